/**
 * A cluster for runner tests: the fake API server, whose exec runs the real agent bundle as a
 * local process, and a "network" that routes each (source namespace, Service host, port) to a
 * local server that answers as the test needs (the app's echo, Envoy's RBAC 403, ...). Only
 * loopback is ever dialled: unrouted names go to a closed loopback port.
 */
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

import { buildAgentBundle } from '../../harness/agent/bundle.js';
import { resolvConf } from './fake-apiserver/cluster-services.js';
import type { ExecHandler, ExecProcess, ExecRequest } from './fake-apiserver/exec.js';
import type { Spawner } from './fake-apiserver/spawner.js';

export type Reply = 'app' | 'rbac' | 'upstream-timeout';

/** An HTTP server whose n-th request gets replies[n] (the last one repeats). */
export async function scriptedServer(
  replies: readonly Reply[],
): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    const reply = replies[Math.min(n, replies.length - 1)] ?? 'app';
    n += 1;
    req.resume();
    if (reply === 'rbac') {
      res.writeHead(403, { 'content-type': 'text/plain', server: 'envoy' }).end('RBAC: access denied');
    } else if (reply === 'upstream-timeout') {
      res
        .writeHead(503, { 'content-type': 'text/plain', server: 'envoy' })
        .end(
          'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: connection timeout',
        );
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    }
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A loopback port with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    s.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Builds the agent bundle once per test process, into a temporary folder. */
let bundle: Promise<string> | undefined;
export function agentBundle(): Promise<string> {
  bundle ??= mkdtemp(path.join(tmpdir(), 'bulkhead-agent-')).then((dir) =>
    buildAgentBundle(path.join(dir, 'agent.mjs')),
  );
  return bundle;
}

/** An agent process an exec started, as `onAgent` sees it: its streams, `kill`, its pid once started. */
export interface AgentProcess extends ExecProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly pid?: number | undefined;
  once(event: 'spawn', listener: () => void): this;
}

/** The agent's subcommand in an exec command (`probe`, `session`), past node's flags and the bundle. */
export function agentSubcommand(command: readonly string[]): string | undefined {
  const at = command.findIndex((c) => c.endsWith('/bulkhead-agent.mjs'));
  return at < 0 ? undefined : command[at + 1];
}

export type Route = (source: ExecRequest, host: string, port: number) => number | undefined;

export interface AgentExecOptions {
  readonly bundlePath: string;
  readonly route: Route;
  readonly unroutedPort: number;
  /** Replaces the exec for some pods (to simulate failures). */
  readonly override?: (request: ExecRequest) => ReturnType<ExecHandler> | undefined;
  /**
   * What `cat /etc/resolv.conf` prints in a pod (never the test machine's own file).
   * Default: kubelet's ClusterFirst file with the seeded kube-dns ClusterIP.
   */
  readonly resolvConf?: (request: ExecRequest) => string;
  /** Sees every batch of attempts a probe (or a session) receives, before it is rerouted. */
  readonly onBatch?: (request: ExecRequest, items: readonly Record<string, unknown>[]) => void;
  /** Sees every agent process started (probe or session), e.g. to kill it at a chosen moment. */
  readonly onAgent?: (request: ExecRequest, child: AgentProcess) => void;
  /**
   * Starts the processes from this spawner, off the fake's event loop (fake-apiserver/spawner.ts),
   * instead of with `spawn` in the fake's own process.
   */
  readonly spawner?: Spawner;
}

/**
 * Exec handler: the command `node [flags] /agent/bulkhead-agent.mjs probe|session ...` runs the
 * real bundle locally, on this Node with the same flags. A probe's batch is rerouted whole when stdin closes; a session's batches line
 * by line as they arrive.
 */
export function agentExec(options: AgentExecOptions): ExecHandler {
  const start = (file: string, args: readonly string[]): AgentProcess =>
    options.spawner ? options.spawner.spawn(file, args) : spawn(file, args, { stdio: 'pipe' });
  return (request) => {
    const special = options.override?.(request);
    if (special) return special;
    // `node [flags] script args`: node's own flags go to the local Node as they came.
    const [program, ...afterProgram] = request.command;
    const flagCount = program === 'node' ? afterProgram.findIndex((a) => !a.startsWith('-')) : 0;
    const nodeFlags = afterProgram.slice(0, Math.max(0, flagCount));
    const [script, ...given] = afterProgram.slice(nodeFlags.length);
    if (program === 'cat' && script === '/etc/resolv.conf' && given.length === 0) {
      const text = (options.resolvConf ?? ((r) => resolvConf(r.namespace)))(request);
      return start(process.execPath, ['-e', 'process.stdout.write(process.argv[1])', text]);
    }
    // A batch passed as an argument (servers without v5 exec) goes through the same network.
    const at = given.indexOf('--batch');
    const args =
      at >= 0
        ? given.map((a, i) =>
            i === at + 1 ? reroute(Buffer.from(a, 'base64'), request, options).toString('base64') : a,
          )
        : given;
    const isAgent = program === 'node' && script?.endsWith('/bulkhead-agent.mjs');
    const child = isAgent
      ? start(process.execPath, [...nodeFlags, options.bundlePath, ...args])
      : start(program ?? '', [...nodeFlags, script ?? '', ...args].filter(Boolean));
    if (isAgent) options.onAgent?.(request, child);
    if (isAgent && given[0] === 'session')
      return { process: child, rewriteStdinLine: (line) => rerouteSessionLine(line, request, options) };
    return {
      process: child,
      rewriteStdin: (input) => reroute(input, request, options),
    };
  };
}

/** A session's batch line `{"batch", "attempts"}` with its attempts rerouted; anything else as it came. */
function rerouteSessionLine(line: Buffer, request: ExecRequest, options: AgentExecOptions): Buffer {
  let value: { batch?: unknown; attempts?: unknown };
  try {
    value = JSON.parse(line.toString('utf8')) as typeof value;
  } catch {
    return line;
  }
  if (!Array.isArray(value.attempts)) return line;
  const attempts = JSON.parse(
    reroute(Buffer.from(JSON.stringify(value.attempts)), request, options).toString('utf8'),
  ) as unknown[];
  return Buffer.from(JSON.stringify({ ...value, attempts }));
}

/** Points every dialled host of a batch at the local server its route names (or a closed port). */
function reroute(input: Buffer, request: ExecRequest, options: AgentExecOptions): Buffer {
  const items = JSON.parse(input.toString('utf8')) as { host?: string; port?: number }[];
  options.onBatch?.(request, structuredClone(items));
  for (const item of items) {
    if (item.host === undefined || item.port === undefined) continue;
    const port = options.route(request, item.host, item.port);
    item.host = '127.0.0.1';
    item.port = port ?? options.unroutedPort;
  }
  return Buffer.from(JSON.stringify(items));
}
