/**
 * Runs the real agent: the esbuild bundle, as a child process fed on stdin, exactly as a pod
 * runs it. The bundle is rebuilt once per test run so the tests never judge a stale build.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';

import { AGENT_BUNDLE, buildAgentBundle } from '../../../harness/agent/bundle.js';
import { SHORT_WORK_NODE_FLAGS } from '../../../harness/agent/v8-tiers.js';
import type { ProbeResult } from '../../../harness/agent/result.js';

let built: Promise<string> | undefined;

/**
 * The Node that runs the agent: this one, or `BULKHEAD_AGENT_NODE` to check the bundle on
 * another major (the pods run Node 22 and 24).
 */
export const AGENT_NODE = process.env.BULKHEAD_AGENT_NODE ?? process.execPath;

/** The bundle's path, built on first use. */
export function agentBundle(): Promise<string> {
  built ??= buildAgentBundle(AGENT_BUNDLE);
  return built;
}

export interface ProbeRun {
  readonly code: number | null;
  readonly results: readonly ProbeResult[];
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
}

export interface RunOptions {
  readonly args?: readonly string[];
  /** Run inside this network namespace (`ip netns exec`). */
  readonly netns?: string;
  /** The command to run instead of the bundle (e.g. the CLI). */
  readonly command?: readonly string[];
}

/** Starts `agent probe` and returns the process, batch already written and stdin closed. */
export async function startProbe(
  batch: unknown,
  options: RunOptions = {},
): Promise<ChildProcessWithoutNullStreams> {
  // With the node flags a run's exec gives it (harness/run/fixtures.ts agentCommand).
  const command = options.command ?? [AGENT_NODE, ...SHORT_WORK_NODE_FLAGS, await agentBundle(), 'probe'];
  const argv = [
    ...(options.netns ? ['ip', 'netns', 'exec', options.netns] : []),
    ...command,
    ...(options.args ?? []),
  ];
  const [file = '', ...rest] = argv;
  const child = spawn(file, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(typeof batch === 'string' ? batch : JSON.stringify(batch));
  return child;
}

/** Runs `agent probe` on a batch to the end and parses every line it wrote. */
export async function runProbe(batch: unknown, options: RunOptions = {}): Promise<ProbeRun> {
  const started = performance.now();
  const child = await startProbe(batch, options);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'close')) as [number | null];
  const results = stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ProbeResult);
  return { code, results, stdout, stderr, wallMs: performance.now() - started };
}

/** The result for one id; fails the test when the agent wrote none. */
export function resultFor(run: ProbeRun, id: string): ProbeResult {
  const found = run.results.find((r) => r.id === id);
  if (!found) throw new Error(`no result for ${id}; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return found;
}

export interface ServeProcess {
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
  stop(): Promise<void>;
}

/** Starts `agent serve` on free ports (or the ones given) and waits until it listens. */
export async function startServe(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  netns?: string,
): Promise<ServeProcess> {
  const bundle = await agentBundle();
  const argv = [...(netns ? ['ip', 'netns', 'exec', netns] : []), AGENT_NODE, bundle, 'serve', ...args];
  const [file = '', ...rest] = argv;
  const child = spawn(file, rest, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  const listening = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      const match = /echo on tcp ([\d, -]+), udp ([\d, -]+)/.exec(stderr);
      if (match) resolve(match);
    });
    child.once('exit', (code) => {
      reject(new Error(`agent serve exited with ${code}: ${stderr}`));
    });
  });
  const ports = (text: string | undefined): number[] =>
    (text ?? '')
      .split(',')
      .map((p) => Number(p.trim()))
      .filter((p) => p > 0);
  return {
    tcp: ports(listening[1]),
    udp: ports(listening[2]),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
