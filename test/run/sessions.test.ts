/**
 * The run's agent sessions on the fake cluster: one exec per source pod for the whole run, a
 * session killed mid-batch (its unfinished attempts `error`, a new session in the next round), a
 * pod given up when its restart breaks too, the cap on execs opening at once (the fake API server
 * counts and refuses beyond a limit), and no exec left open after a run or a Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { Command } from 'commander';

import { addRunnerOptions, runSettings, type RunnerOptions } from '../../harness/cli/shared.js';
import { ExecError, openExecStream } from '../../harness/kube/exec.js';
import { createProgress } from '../../harness/run/progress.js';
import { runScenario, type RunnerProps, type RunResult } from '../../harness/run/runner.js';
import { AgentSessions } from '../../harness/run/sessions.js';
import type { ExecLimits, ExecRequest } from '../support/fake-apiserver/exec.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort, type AgentProcess } from '../support/fake-cluster.js';
import { HEAD, load } from '../support/scenarios.js';

/** `clients` probe pods in tenant-acme, each trying `api` (answers at once); client-0 also tries `slow`. */
function scenarioText(clients: number): string {
  const names = Array.from({ length: clients }, (_, i) => `client-${i}`);
  return `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads:
${names.map((n) => `        - { name: ${n} }`).join('\n')}
        - { name: api, ports: [8080] }
        - { name: slow, ports: [8080] }
  attempts:
${names.map((n) => `    - { id: ${n}-api, kind: http, from: tenant-acme/${n}, to: tenant-acme/api, expect: allowed }`).join('\n')}
    - { id: client-0-slow, kind: http, from: tenant-acme/client-0, to: tenant-acme/slow, expect: allowed }
`;
}

/** An HTTP server answering 200 after `delayMs(n)` for its n-th request. */
async function app(
  delayMs: (n: number) => number,
): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    const wait = delayMs(n++);
    req.resume();
    const timer = setTimeout(
      () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
      wait,
    );
    res.on('close', () => {
      clearTimeout(timer);
    });
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

interface ClusterOptions {
  readonly clients: number;
  /** How long `slow` takes to answer its n-th request. Default: at once. */
  readonly slowMs?: (n: number) => number;
  readonly execLimits?: ExecLimits;
  readonly execProtocols?: readonly string[];
  readonly override?: (r: ExecRequest) => ReturnType<ReturnType<typeof agentExec>> | undefined;
  readonly onAgent?: (r: ExecRequest, child: AgentProcess) => void;
}

interface Cluster {
  readonly server: FakeApiServer;
  readonly slowHits: () => number;
  run(extra?: Partial<RunnerProps>): Promise<RunResult>;
  lines(): Promise<Record<string, unknown>[]>;
  /** The session execs of one pod, in the order they started. */
  sessionsOf(pod: string): FakeApiServer['execs'];
  close(): Promise<void>;
}

async function cluster(options: ClusterOptions): Promise<Cluster> {
  const api = await app(() => 0);
  const slow = await app(options.slowMs ?? (() => 0));
  const server = await new FakeApiServer({
    ...(options.execProtocols ? { execProtocols: options.execProtocols } : {}),
    ...(options.execLimits ? { execLimits: options.execLimits } : {}),
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      route: (_source, host) =>
        host === 'api.tenant-acme.svc.cluster.local'
          ? api.port
          : host === 'slow.tenant-acme.svc.cluster.local'
            ? slow.port
            : undefined,
      ...(options.override ? { override: options.override } : {}),
      ...(options.onAgent ? { onAgent: options.onAgent } : {}),
    }),
  }).start();
  const scenario = await load(scenarioText(options.clients));
  const reports = await mkdtemp(path.join(tmpdir(), 'bulkhead-sessions-'));
  const log = path.join(reports, 'run-1', 'results.jsonl');
  return {
    server,
    slowHits: slow.hits,
    run: (extra = {}) =>
      runScenario({
        scenario,
        kubeConfig: server.kubeConfig(),
        agentBundle: '// bundle',
        directory: path.join(reports, 'run-1'),
        runId: 'run-1',
        progress: createProgress({ write: () => undefined, interactive: false }),
        settleMs: 0,
        roundIntervalMs: 0,
        convergeTimeoutMs: 20_000,
        ...extra,
      }),
    lines: async () =>
      (await readFile(log, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    sessionsOf: (pod) =>
      server.execs.filter((e) => e.request.pod === pod && e.request.command.includes('session')),
    close: async () => {
      await server.stop();
      await api.close();
      await slow.close();
      await rm(reports, { recursive: true, force: true });
    },
  };
}

function verdicts(result: RunResult): Record<string, string> {
  return Object.fromEntries(
    result.results.map((r) => [r.attempt.id, `${r.judgement.verdict}:${r.judgement.outcome}`]),
  );
}

/** Observations of one attempt, in round order: `round outcome`. */
async function observed(c: Cluster, attempt: string): Promise<Record<string, unknown>[]> {
  return (await c.lines()).filter((l) => l.type === 'observation' && l.attempt === attempt);
}

/** Resolves when every promise has, or fails the test after `ms`. */
async function within<T>(ms: number, what: string, promises: readonly Promise<T>[]): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: not within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([Promise.all(promises), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('agent sessions on the fake cluster', function () {
  this.timeout(60_000);
  let c: Cluster | undefined;
  afterEach(async () => {
    await c?.close();
    c = undefined;
  });

  it("starts each session's agent with the node flags of its exec command, as a pod's node would", async () => {
    const cmdlines: string[][] = [];
    c = await cluster({
      clients: 2,
      onAgent: (_request, child) => {
        child.once('spawn', () => {
          cmdlines.push(readFileSync(`/proc/${String(child.pid)}/cmdline`, 'utf8').split('\0'));
        });
      },
    });
    const result = await c.run();
    expect(Object.values(verdicts(result))).to.deep.equal(['pass:allowed', 'pass:allowed', 'pass:allowed']);
    const sessions = [...c.sessionsOf('client-0'), ...c.sessionsOf('client-1')];
    expect(sessions).to.have.length(2);
    for (const e of sessions)
      expect(e.request.command.slice(0, 3)).to.deep.equal([
        'node',
        '--min-semi-space-size=4',
        '/agent/bulkhead-agent.mjs',
      ]);
    // The agent processes (sessions, and whatever probe the run started) ran with the flag before the bundle.
    expect(cmdlines.length).to.be.at.least(2);
    for (const argv of cmdlines) {
      const bundle = argv.findIndex((a) => a.endsWith('.mjs'));
      expect(argv.slice(1, bundle), argv.join(' ')).to.include('--min-semi-space-size=4');
    }
  });

  it('keeps what a session killed mid-batch finished, errors the rest, and a new session carries on', async () => {
    let killed = false;
    c = await cluster({
      clients: 1,
      // Round 1's slow attempt is still waiting when its session is killed.
      slowMs: (n) => (n === 0 ? 3000 : 0),
      onAgent: (request, child) => {
        if (request.pod !== 'client-0' || killed) return;
        killed = true;
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          if (out.includes('"id":"client-0-api"')) child.kill('SIGKILL');
        });
      },
    });
    const result = await c.run();
    expect(verdicts(result)).to.deep.equal({
      'client-0-api': 'pass:allowed',
      'client-0-slow': 'pass:allowed',
    });
    const slow = await observed(c, 'client-0-slow');
    expect(slow.map((o) => `${String(o.round)} ${String(o.outcome)}`)).to.deep.equal([
      '1 error',
      '2 allowed',
      '3 allowed',
      '4 allowed',
    ]);
    expect(String(slow[0]?.reason)).to.match(
      /^the agent session in tenant-acme\/client-0 ended mid-batch: the agent exited with code 137/,
    );
    // What finished before the kill was kept: round 1 of the other attempt is its real result.
    const fast = await observed(c, 'client-0-api');
    expect(fast.map((o) => `${String(o.round)} ${String(o.outcome)}`)).to.deep.equal([
      '1 allowed',
      '2 allowed',
      '3 allowed',
    ]);
    // The killed session and the one that replaced it for rounds 2-4, which ended with its input.
    const sessions = c.sessionsOf('client-0');
    expect(sessions).to.have.length(2);
    expect(await Promise.all(sessions.map((s) => s.done))).to.deep.equal([137, 0]);
  });

  it("opens each source pod's session before round 1 with an empty batch, and round 1 runs on it", async () => {
    const first = new Map<string, string[]>();
    c = await cluster({
      clients: 2,
      onAgent: (request, child) => {
        if (first.has(request.pod)) return;
        const lines: string[] = [];
        first.set(request.pod, lines);
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          lines.splice(0, lines.length, ...out.split('\n').filter(Boolean));
        });
      },
    });
    const result = await c.run();
    expect(verdicts(result)).to.deep.equal({
      'client-0-api': 'pass:allowed',
      'client-0-slow': 'pass:allowed',
      'client-1-api': 'pass:allowed',
    });
    for (const pod of ['client-0', 'client-1']) {
      // One session for the whole run, whose first batch was the empty one.
      expect(c.sessionsOf(pod), pod).to.have.length(1);
      const lines = (first.get(pod) ?? []).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0], pod).to.deep.include({ end: true, attempts: 0 });
      expect(
        lines.slice(1).some((l) => l.id === `${pod}-api`),
        pod,
      ).to.equal(true);
    }
  });

  it('gives a pod up when its restart breaks too: error with the reason for the rest of the run', async () => {
    c = await cluster({
      clients: 2,
      // client-0's agent dies as soon as it reads a batch, every time.
      override: (r) =>
        r.pod === 'client-0' && r.command.includes('session')
          ? spawn(process.execPath, ['-e', `process.stdin.once('data', () => process.exit(3))`], {
              stdio: 'pipe',
            })
          : undefined,
    });
    const result = await c.run();
    expect(verdicts(result)).to.deep.equal({
      'client-0-api': 'error:error',
      'client-0-slow': 'error:error',
      'client-1-api': 'pass:allowed',
    });
    const seen = await observed(c, 'client-0-api');
    expect(seen.map((o) => `${String(o.round)} ${String(o.outcome)}`)).to.deep.equal([
      '1 error',
      '2 error',
      '3 error',
    ]);
    expect(String(seen[0]?.reason)).to.match(
      /^the agent session in tenant-acme\/client-0 ended mid-batch: the agent exited with code 3/,
    );
    expect(String(seen[1]?.reason)).to.match(/^the agent session in tenant-acme\/client-0 ended mid-batch/);
    expect(String(seen[2]?.reason)).to.match(
      /^the agent session in tenant-acme\/client-0 broke \(the agent exited with code 3\) and its restart failed too \(the agent exited with code 3\): no attempt from this pod runs again in this run$/,
    );
    // The session opened before round 1 (its empty batch lost nothing, so no break), round 1's
    // and its one restart in round 2; round 3 opened none.
    expect(c.sessionsOf('client-0')).to.have.length(3);
    expect(c.sessionsOf('client-1')).to.have.length(1);
  });

  it('never has more execs opening at once than --exec-concurrency, and the fake would tell', async () => {
    // Each exec takes 150 ms to open; the fake refuses a third at once.
    const limits = { maxOpening: 2, openDelayMs: 150 };
    c = await cluster({ clients: 8, execLimits: limits });
    const result = await c.run({ execConcurrency: 2 });
    expect(result.exitCode).to.equal(0);
    expect(c.server.execCounts).to.deep.include({ refused: 0, peakOpening: 2, open: 0 });
    expect(c.server.execs.filter((e) => e.request.command.includes('session'))).to.have.length(8);
    await c.close();

    // The same cluster with a cap above the fake's limit: execs are refused, and reported as errors.
    c = await cluster({ clients: 8, execLimits: limits });
    const over = await c.run({ execConcurrency: 8, convergeTimeoutMs: 0 });
    expect(c.server.execCounts.refused).to.be.above(0);
    expect(over.exitCode).to.equal(2);
    const refused = (await c.lines()).find(
      (l) => l.type === 'observation' && /could not start: .*429/.test(String(l.reason)),
    );
    expect(refused?.outcome).to.equal('error');
  });

  it('caps the per-round execs too where the server speaks only v4 exec', async () => {
    c = await cluster({
      clients: 6,
      execProtocols: ['v4.channel.k8s.io'],
      execLimits: { maxOpening: 2, openDelayMs: 100 },
    });
    const result = await c.run({ execConcurrency: 2 });
    expect(result.exitCode).to.equal(0);
    expect(c.server.execCounts).to.deep.include({ refused: 0, peakOpening: 2 });
    expect(c.server.execs.filter((e) => e.request.command.includes('--batch'))).to.have.length(18);
    expect((await c.lines()).at(-1)).to.deep.include({ execInput: 'argv', agentSessions: 'per-round' });
  });

  it('closes every session on Ctrl-C at once: no exec left open', async () => {
    c = await cluster({ clients: 3, slowMs: () => 4000 });
    const controller = new AbortController();
    const server = c.server;
    const slowHits = c.slowHits;
    let abortedAt = 0;
    const watcher = setInterval(() => {
      // Round 1 is under way: every session is open and the slow attempt waits for its answer.
      if (slowHits() > 0 && server.execCounts.open === 3) {
        clearInterval(watcher);
        abortedAt = performance.now();
        controller.abort();
      }
    }, 10);
    const result = await c.run({ signal: controller.signal });
    clearInterval(watcher);
    expect(result.interrupted).to.equal(true);
    expect(performance.now() - abortedAt, 'the run stops without waiting for the slow attempt').to.be.below(
      2500,
    );
    expect(server.execCounts.open).to.equal(0);
    // The agents see their input end and exit.
    const sessions = server.execs.filter((e) => e.request.command.includes('session'));
    expect(sessions).to.have.length(3);
    await within(
      10_000,
      'the session processes to exit',
      sessions.map((s) => s.done),
    );
    expect((await c.lines()).at(-1)).to.deep.include({ type: 'end', interrupted: true });
  });
});

describe('exec streams (the session transport)', function () {
  this.timeout(20_000);
  let server: FakeApiServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  /** A pod whose exec runs `code` under Node. */
  async function podRunning(code: string, execProtocols?: readonly string[]): Promise<FakeApiServer> {
    const s = await new FakeApiServer({
      ...(execProtocols ? { execProtocols } : {}),
      exec: () => spawn(process.execPath, ['-e', code], { stdio: 'pipe' }),
    }).start();
    s.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
    s.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'ns' },
      spec: { containers: [{ name: 'c' }] },
    });
    s.setPodReady('ns', 'p', true);
    return s;
  }

  const UPPER = `process.stdin.setEncoding('utf8').on('data', (d) => process.stdout.write(d.toUpperCase()));
process.stdin.on('end', () => { process.stderr.write('bye'); process.exit(5); });`;

  it('takes input as often as it is written, ends stdin alone, and reports the exit', async () => {
    server = await podRunning(UPPER);
    let out = '';
    const grew = new Set<() => void>();
    const stream = await openExecStream(server.kubeConfig(), {
      namespace: 'ns',
      pod: 'p',
      container: 'c',
      command: ['upper'],
      connectTimeoutMs: 5000,
      onStdout: (chunk) => {
        out += chunk.toString('utf8');
        for (const wake of grew) wake();
      },
    });
    const until = (text: string) =>
      within(5000, `stdout to hold ${text}`, [
        new Promise<void>((resolve) => {
          const check = () => {
            if (out.includes(text)) resolve();
          };
          grew.add(check);
          check();
        }),
      ]);
    expect(stream.protocol).to.equal('v5.channel.k8s.io');
    stream.write('first\n');
    await until('FIRST');
    stream.write('second\n');
    await until('SECOND');
    expect(server.execCounts.open).to.equal(1);
    stream.endInput();
    const end = await stream.done;
    expect(end).to.deep.include({ exitCode: 5, stderr: 'bye' });
    expect(server.execs).to.have.length(1);
  });

  it('refuses a v4 server, whose stdin cannot end alone', async () => {
    server = await podRunning(UPPER, ['v4.channel.k8s.io']);
    const error = await openExecStream(server.kubeConfig(), {
      namespace: 'ns',
      pod: 'p',
      container: 'c',
      command: ['upper'],
      connectTimeoutMs: 5000,
      onStdout: () => undefined,
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ExecError);
    expect((error as ExecError).failure).to.equal('stdin-unsupported');
  });

  it('ends at once when aborted, and leaves no exec open', async () => {
    server = await podRunning('setInterval(() => {}, 1000)');
    const controller = new AbortController();
    const stream = await openExecStream(server.kubeConfig(), {
      namespace: 'ns',
      pod: 'p',
      container: 'c',
      command: ['idle'],
      connectTimeoutMs: 5000,
      onStdout: () => undefined,
      signal: controller.signal,
    });
    const started = performance.now();
    controller.abort();
    const [end] = await within(2000, 'the stream to end', [stream.done]);
    expect(end?.failure).to.equal('aborted');
    expect(performance.now() - started).to.be.below(1000);
    const s = server;
    await within(5000, 'the fake to see the connection close', [
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (s.execCounts.open === 0) {
            clearInterval(timer);
            resolve();
          }
        }, 10);
      }),
    ]);
  });
});

describe('--exec-concurrency (run, upgrade-check)', () => {
  const parse = (...args: string[]) => {
    const command = addRunnerOptions(new Command())
      .exitOverride()
      .configureOutput({ writeErr: () => undefined });
    command.parse(['node', 'bulkhead', ...args]);
    return runSettings(command.opts<RunnerOptions>(), '// bundle');
  };

  it('reaches the runner, 32 unless given, and must be a whole number from 1', () => {
    expect(parse().execConcurrency).to.equal(32);
    expect(parse('--exec-concurrency', '7').execConcurrency).to.equal(7);
    expect(() => parse('--exec-concurrency', '0')).to.throw(/expected a whole number, 1 or more/);
  });
});

describe('agent sessions outside a round (the network canary)', function () {
  this.timeout(60_000);

  it('dials on the pod session the rounds then use, and retain() ends only the others', async () => {
    const target = await app(() => 0);
    const server = await new FakeApiServer({
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: await closedPort(),
        route: (_source, host) => (host === '10.0.0.9' ? target.port : undefined),
      }),
    }).start();
    try {
      for (const name of ['client', 'echo']) {
        server.put({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'tenant-acme' },
          spec: { containers: [{ name: 'agent' }] },
        });
        server.setPodReady('tenant-acme', name, true);
      }
      const scenario = await load(scenarioText(1));
      const sessions = new AgentSessions({ kubeConfig: server.kubeConfig(), scenario });
      const item = {
        id: 'canary',
        kind: 'tcp' as const,
        host: '10.0.0.9',
        port: 18099,
        timeoutMs: 2000,
        sidecar: false,
      };
      const seen: string[] = [];
      for (const pod of ['client', 'echo', 'client'])
        expect(
          await sessions.probe({ namespace: 'tenant-acme', pod, items: [item] }, (o) => {
            seen.push(`${pod} ${o.attempt} ${o.outcome}`);
          }),
        ).to.equal('sent');
      expect(seen).to.deep.equal(['client canary allowed', 'echo canary allowed', 'client canary allowed']);
      expect(server.execs.map((e) => e.request.pod)).to.deep.equal(['client', 'echo']);
      await sessions.retain(new Set(['tenant-acme/client']));
      const [client, echo] = server.execs;
      // The echo pod's agent was told to end; the client's session is still the same one.
      expect(await within(5000, 'the echo session to end', [echo!.done])).to.deep.equal([0]);
      await sessions.probe({ namespace: 'tenant-acme', pod: 'client', items: [item] }, () => undefined);
      expect(server.execs).to.have.length(2);
      await sessions.close();
      expect(await within(5000, 'the client session to end', [client!.done])).to.deep.equal([0]);
    } finally {
      await server.stop();
      await target.close();
    }
  });
});
