/**
 * `npm run bench:run`: the execute phase against the fake API server, the way a run does it.
 *
 * 1. Rounds: 60 source pods × 20 attempts, every attempt answered by a local server after 1 s,
 *    3 rounds, with one agent session per pod for all rounds (harness/run/sessions.ts) and the
 *    old way, one exec and one Node start per pod per round (harness/run/execute.ts runRound,
 *    which a run still uses where the API server speaks only v4 exec). With sessions, round 1
 *    should cost at most 2× the attempt time (the execs and Node starts) and every later round at
 *    most 1.3× (nothing but the attempts). Round 1 is measured twice: cold, the sessions opening
 *    in it, which is what opening them costs (a run no longer does that: they open before round 1),
 *    and after one canary dial per pod opened them, as a run's round 1 is: with the Calico barrier
 *    the canary's dials go on the sessions (harness/run/canary.ts), without it an empty batch per
 *    pod opens them while the barriers and --settle wait (harness/run/runner.ts), which costs no
 *    more than a dial.
 * 2. Fan-out: 300 source pods × 5 attempts, 2 rounds, sessions capped at the default
 *    `--exec-concurrency`; the fake API server takes 50 ms to open each exec and refuses one
 *    beyond the cap. The harness runs in a process of its own, so its peak RSS is its own.
 *
 * The fake API server and the agents it starts run in a child process (`--role server`). A floor
 * (`--role floor`) runs the same rounds with the agents started and fed directly, no exec at all:
 * what the attempts cost on this machine, so that the harness's own share shows. Each case runs
 * `--runs` times (default 5); the figures are medians. The last line is
 * `rounds 2+: median X.XX s per round, attempt time Y.YY s, ratio Z.ZZ`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { KubeConfig } from '@kubernetes/client-node';

import { SHORT_WORK_NODE_FLAGS } from '../harness/agent/v8-tiers.js';
import {
  DEFAULT_EXEC_CONCURRENCY,
  OpeningLimit,
  runRound,
  type RoundObservation,
  type SourceBatch,
  type Transport,
} from '../harness/run/execute.js';
import { AgentSessions } from '../harness/run/sessions.js';
import { expectation } from '../harness/scenario/outcomes.js';
import type { HttpAttempt, Workload } from '../harness/scenario/types.js';
import type { ExecCounts } from '../test/support/fake-apiserver/exec.js';
import { FakeApiServer } from '../test/support/fake-apiserver/server.js';
import { Spawner } from '../test/support/fake-apiserver/spawner.js';
import { agentBundle, agentExec, closedPort } from '../test/support/fake-cluster.js';

const SELF = fileURLToPath(import.meta.url);
const TENANTS = 10;
const DELAY_MS = 1000;
const TIMEOUT_MS = 5000;
const ROUNDS = { pods: 60, attempts: 20, rounds: 3 } as const;
const FANOUT = {
  pods: 300,
  attempts: 5,
  rounds: 2,
  openDelayMs: 50,
  rssLimitBytes: 300 * 1024 * 1024,
} as const;

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    runs: { type: 'string', default: '5' },
    // The rounds case alone, for quick A/B runs (the fan-out case line then says it was skipped).
    'rounds-only': { type: 'boolean', default: false },
    // `in-process`: the fake starts the agents with its own spawn, as before the spawner (A/B runs).
    spawn: { type: 'string', default: 'spawner' },
    pods: { type: 'string' },
    attempts: { type: 'string' },
    'max-opening': { type: 'string' },
    'open-delay': { type: 'string' },
    kubeconfig: { type: 'string' },
  },
});

/** The source pods (spread over tenants) and each one's batch: every attempt answered after DELAY_MS. */
function layout(pods: number, attempts: number): { workloads: Workload[]; batches: SourceBatch[] } {
  const origin = { file: 'bench', line: 0, column: 0, path: '' };
  const workloads: Workload[] = [];
  const batches: SourceBatch[] = [];
  for (let p = 0; p < pods; p++) {
    const namespace = `tenant-${p % TENANTS}`;
    const name = `probe-${p}`;
    workloads.push({
      name,
      namespace,
      labels: {},
      serviceAccount: 'default',
      sidecar: false,
      ports: [],
      automountToken: true,
      probe: true,
      origin,
    });
    const list: HttpAttempt[] = Array.from({ length: attempts }, (_, i) => ({
      id: `${namespace}/${name}/${i}`,
      kind: 'http',
      category: 'cross-tenant',
      from: { namespace, name },
      to: { namespace: `tenant-${(p + 1) % TENANTS}`, name: `svc-${i}` },
      port: { port: 8080, protocol: 'TCP' },
      http: { method: 'GET', path: '/', headers: {} },
      expect: expectation(['allowed']),
      timeoutMs: TIMEOUT_MS,
      origin,
    }));
    batches.push({ source: `${namespace}/${name}`, namespace, pod: name, attempts: list });
  }
  return { workloads, batches };
}

// --- the fake API server, in a process of its own -------------------------------------------

/** The app every attempt reaches: 200 after `delayMs`. */
const APP = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const app = createServer((req, res) => {
  req.resume();
  setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), workerData.delayMs);
});
app.listen(0, '127.0.0.1', 4096, () => parentPort.postMessage(app.address().port));
// Its own CPU time, so that the bench can tell the app's share from the fake API server's.
parentPort.on('message', () => {
  const { user, system } = process.threadCpuUsage();
  parentPort.postMessage((user + system) / 1000);
});
`;

/** CPU time used so far, ms, per part of the bench (Linux: the agents' from /proc). */
export interface CpuTimes {
  /** The fake API server: its process less the app's thread (it relays every exec byte). */
  readonly fake: number;
  /** The app every attempt reaches. */
  readonly app: number;
  /** Every agent process started, alive or not (a process that exited counts what it had used when last read). */
  readonly agents: number;
}

/** utime + stime of a process in ms, or undefined once it is gone. */
function processCpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // Fields 14 and 15 of proc_pid_stat(5), counted after the command name: clock ticks (100 Hz).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** `--role server`: prints the kubeconfig, then answers `counts` and `reset` lines on stdin. */
async function serve(): Promise<void> {
  const pods = Number(values.pods);
  // The app answers from a thread of its own, so the fake API server's work never delays it.
  const app = new Worker(APP, { eval: true, workerData: { delayMs: DELAY_MS } });
  const appPort = await new Promise<number>((resolve) => app.once('message', resolve));
  const maxOpening = values['max-opening'] === undefined ? undefined : Number(values['max-opening']);
  const agents = new Map<number, number>();
  // The agents start from a spawner process, so that starting 60 of them never blocks the fake's
  // relaying (a real API server and kubelet do not fork on the client's machine at all).
  const spawner = values.spawn === 'in-process' ? undefined : await Spawner.start();
  const server = await new FakeApiServer({
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      route: () => appPort,
      ...(spawner ? { spawner } : {}),
      onAgent: (_, child) => {
        child.once('spawn', () => {
          if (child.pid !== undefined) agents.set(child.pid, 0);
        });
      },
    }),
    execLimits: {
      ...(maxOpening === undefined ? {} : { maxOpening }),
      openDelayMs: Number(values['open-delay'] ?? 0),
    },
  }).start();
  for (let t = 0; t < TENANTS; t++)
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `tenant-${t}` } });
  for (const w of layout(pods, 0).workloads) {
    server.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: w.name, namespace: w.namespace },
      spec: { containers: [{ name: 'agent' }] },
    });
    server.setPodReady(w.namespace, w.name, true);
  }
  process.stdout.write(JSON.stringify({ kubeconfig: server.kubeConfig().exportConfig() }) + '\n');
  const cpu = async (): Promise<CpuTimes> => {
    const app_ = new Promise<number>((resolve) => app.once('message', resolve));
    app.postMessage('cpu');
    const appMs = await app_;
    const { user, system } = process.cpuUsage();
    let agentsMs = 0;
    for (const [pid, last] of agents) {
      const now = processCpuMs(pid) ?? last;
      agents.set(pid, now);
      agentsMs += now;
    }
    return { fake: (user + system) / 1000 - appMs, app: appMs, agents: agentsMs };
  };
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'cpu') {
      process.stdout.write(JSON.stringify(await cpu()) + '\n');
      continue;
    }
    const counts: ExecCounts = server.execCounts;
    if (line === 'reset') Object.assign(counts, { peakOpening: 0, peakOpen: 0, refused: 0 });
    process.stdout.write(JSON.stringify(counts) + '\n');
  }
  await server.stop();
  await spawner?.stop();
  await app.terminate();
  process.exit(0);
}

interface ServerProcess {
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigText: string;
  ask(what: 'counts' | 'reset'): Promise<ExecCounts>;
  cpu(): Promise<CpuTimes>;
  stop(): Promise<void>;
}

async function startServer(args: readonly string[]): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--role', 'server', ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the fake API server exited');
    return value;
  };
  const kubeconfigText = (JSON.parse(await next()) as { kubeconfig: string }).kubeconfig;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(kubeconfigText);
  return {
    kubeConfig,
    kubeconfigText,
    ask: async (what) => {
      child.stdin.write(what + '\n');
      return JSON.parse(await next()) as ExecCounts;
    },
    cpu: async () => {
      child.stdin.write('cpu\n');
      return JSON.parse(await next()) as CpuTimes;
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
    },
  };
}

// --- the harness side ------------------------------------------------------------------------

interface RoundTally {
  observed: number;
  allowed: number;
  other?: string;
}

function tally(): { tally: RoundTally; observe: (o: RoundObservation) => void } {
  const t: RoundTally = { observed: 0, allowed: 0 };
  return {
    tally: t,
    observe: (o) => {
      t.observed += 1;
      if (o.outcome === 'allowed') t.allowed += 1;
      else t.other ??= `${o.attempt}: ${o.outcome} (${o.reason})`;
    },
  };
}

/** CPU time of one round, ms, per part: where two cores' worth of time went. */
interface RoundCpu extends CpuTimes {
  /** The process running the rounds (the harness; the floor's feeder). */
  readonly harness: number;
}

interface Timed {
  /** Wall time of each round, ms. */
  readonly times: number[];
  /** CPU time of each round, when it was measured. */
  readonly cpu?: RoundCpu[];
  /** Attempts not observed allowed, over all rounds, and the first of them. */
  readonly missed: number;
  readonly firstMissed?: string;
}

/** Reads the CPU used so far by the parts outside this process. */
type CpuReader = () => Promise<CpuTimes>;

const ownCpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/**
 * Times each round, and counts the attempts that were not observed allowed: an agent starved of
 * CPU misses its deadlines, and a round with misses measured less than it seems. With `readCpu`,
 * also what each round cost in CPU time (read between rounds, outside the timed span).
 */
async function timedRounds(
  rounds: number,
  batches: readonly SourceBatch[],
  round: (observe: (o: RoundObservation) => void) => Promise<void>,
  readCpu?: CpuReader,
): Promise<Timed> {
  const total = batches.reduce((n, b) => n + b.attempts.length, 0);
  const times: number[] = [];
  const cpu: RoundCpu[] = [];
  let missed = 0;
  let firstMissed: string | undefined;
  for (let r = 1; r <= rounds; r++) {
    const { tally: t, observe } = tally();
    const before = readCpu ? { ...(await readCpu()), harness: ownCpuMs() } : undefined;
    const start = performance.now();
    await round(observe);
    times.push(performance.now() - start);
    if (readCpu && before) {
      const harness = ownCpuMs();
      const after = await readCpu();
      cpu.push({
        harness: harness - before.harness,
        fake: after.fake - before.fake,
        app: after.app - before.app,
        agents: after.agents - before.agents,
      });
    }
    if (t.observed !== total) throw new Error(`round ${r}: ${t.observed} of ${total} attempts observed`);
    missed += total - t.allowed;
    firstMissed ??= t.other;
  }
  return { times, missed, ...(readCpu ? { cpu } : {}), ...(firstMissed ? { firstMissed } : {}) };
}

async function persistentRounds(
  kubeConfig: KubeConfig,
  rounds: number,
  pods: number,
  attempts: number,
  options: { readonly canary?: boolean; readonly readCpu?: CpuReader } = {},
): Promise<Timed & { canaryMs?: number }> {
  const { workloads, batches } = layout(pods, attempts);
  const sessions = new AgentSessions({
    kubeConfig,
    scenario: { clusterDomain: 'cluster.local', workloads },
  });
  try {
    let canaryMs: number | undefined;
    if (options.canary) {
      // As a run with a network barrier does: the canary's one dial per pod opens the sessions.
      const start = performance.now();
      const item = {
        id: 'canary',
        kind: 'tcp' as const,
        host: '10.0.0.1',
        port: 18099,
        timeoutMs: TIMEOUT_MS,
        sidecar: false,
      };
      const seen: string[] = [];
      await Promise.all(
        batches.map((b) =>
          sessions.probe({ namespace: b.namespace, pod: b.pod, items: [item] }, (o) => seen.push(o.outcome)),
        ),
      );
      canaryMs = performance.now() - start;
      const other = seen.find((o) => o !== 'allowed');
      if (seen.length !== batches.length || other)
        throw new Error(`canary dials: ${seen.length} of ${batches.length}, one ${other ?? ''}`);
    }
    const timed = await timedRounds(
      rounds,
      batches,
      (observe) => sessions.round({ batches, observe }),
      options.readCpu,
    );
    return { ...timed, ...(canaryMs === undefined ? {} : { canaryMs }) };
  } finally {
    await sessions.close();
  }
}

async function perRoundRounds(
  kubeConfig: KubeConfig,
  rounds: number,
  pods: number,
  attempts: number,
  readCpu?: CpuReader,
): Promise<Timed> {
  const { workloads, batches } = layout(pods, attempts);
  const scenario = { clusterDomain: 'cluster.local', workloads };
  const transport: Transport = { mode: 'stdin' };
  const openings = new OpeningLimit();
  return timedRounds(
    rounds,
    batches,
    (observe) => runRound({ kubeConfig, scenario, batches, observe, transport, openings }),
    readCpu,
  );
}

/**
 * `--role floor`: the same rounds with no harness, API server or WebSocket at all: the agents are
 * started here as plain processes and fed their batches on stdin, so the round times are what the
 * attempts themselves cost on this machine (starting 60 Nodes, 1,200 loopback connections).
 */
async function floorRun(): Promise<void> {
  const app = new Worker(APP, { eval: true, workerData: { delayMs: DELAY_MS } });
  const port = await new Promise<number>((resolve) => app.once('message', resolve));
  const bundle = await agentBundle();
  const { batches } = layout(ROUNDS.pods, ROUNDS.attempts);
  const agents = batches.map(() => {
    // With the node flags a pod's exec gives the agent (harness/run/fixtures.ts agentCommand).
    const child = spawn(process.execPath, [...SHORT_WORK_NODE_FLAGS, bundle, 'session'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const waiting: (() => void)[] = [];
    let take: (value: Record<string, unknown>) => void = () => undefined;
    void (async () => {
      for await (const line of createInterface({ input: child.stdout })) {
        const value = JSON.parse(line) as Record<string, unknown>;
        if (value.end === true) waiting.shift()?.();
        else take(value);
      }
    })();
    return {
      run: (attempts: readonly unknown[], observe: (o: RoundObservation) => void) =>
        new Promise<void>((resolve) => {
          take = (v) => {
            observe({
              attempt: String(v.id),
              outcome: v.outcome as RoundObservation['outcome'],
              reason: String(v.reason),
              evidence: {},
            });
          };
          waiting.push(resolve);
          child.stdin.write(JSON.stringify({ batch: 'b', attempts }) + '\n');
        }),
      end: () => child.stdin.end(),
      pid: child.pid,
    };
  });
  const pids = agents.map((a) => a.pid);
  const readCpu: CpuReader = async () => {
    const appMs = await new Promise<number>((resolve) => {
      app.once('message', resolve);
      app.postMessage('cpu');
    });
    return {
      // No fake API server here: the feeder's own time (less the app's thread) is counted as the harness.
      fake: 0,
      app: appMs,
      agents: pids.reduce<number>((n, pid) => n + (pid === undefined ? 0 : (processCpuMs(pid) ?? 0)), 0),
    };
  };
  const timed = await timedRounds(
    ROUNDS.rounds,
    batches,
    (observe) =>
      Promise.all(
        agents.map((agent, i) =>
          agent.run(
            (batches[i]?.attempts ?? []).map((a) => ({
              id: a.id,
              kind: 'http',
              host: '127.0.0.1',
              port,
              timeoutMs: TIMEOUT_MS,
            })),
            observe,
          ),
        ),
      ).then(() => undefined),
    readCpu,
  );
  for (const agent of agents) agent.end();
  await app.terminate();
  // The app's thread is in this process: the feeder's own share is what is left.
  const cpu = timed.cpu?.map((c) => ({ ...c, harness: c.harness - c.app }));
  process.stdout.write(JSON.stringify({ ...timed, ...(cpu ? { cpu } : {}) }) + '\n');
  process.exit(0);
}

/** Runs `--role <role>` in a child process and returns the JSON line it prints. */
function child<T>(args: readonly string[]): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', SELF, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
    proc.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(text) as T);
      else reject(new Error(`${args.join(' ')} exited with ${String(code)}`));
    });
  });
}

/** `--role fanout`: one fan-out run in this process; prints its rounds and peak RSS. */
async function fanoutRun(): Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(values.kubeconfig ?? '');
  const timed = await persistentRounds(kubeConfig, FANOUT.rounds, FANOUT.pods, FANOUT.attempts);
  process.stdout.write(
    JSON.stringify({ ...timed, peakRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\n',
  );
}

/** Runs one fan-out run in a process of its own against its own fake API server. */
async function fanoutCase(dir: string): Promise<Timed & { peakRssBytes: number; counts: ExecCounts }> {
  const fake = await startServer([
    '--spawn',
    values.spawn,
    '--pods',
    String(FANOUT.pods),
    '--max-opening',
    String(DEFAULT_EXEC_CONCURRENCY),
    '--open-delay',
    String(FANOUT.openDelayMs),
  ]);
  try {
    const file = path.join(dir, 'kubeconfig');
    await writeFile(file, fake.kubeconfigText);
    const result = await child<Timed & { peakRssBytes: number }>(['--role', 'fanout', '--kubeconfig', file]);
    return { ...result, counts: await fake.ask('counts') };
  } finally {
    await fake.stop();
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const sec = (ms: number): string => (ms / 1000).toFixed(2);
const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
const check = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
const cpuSum = (c: RoundCpu): number => c.harness + c.fake + c.app + c.agents;
const cpuText = (t: Timed): string =>
  (t.cpu ?? [])
    .map((c) => `${[c.harness, c.fake, c.app, c.agents].map(sec).join('/')} = ${sec(cpuSum(c))}`)
    .join(', ');
const missedText = (t: Timed): string =>
  t.missed === 0 ? '' : `, ${t.missed} not allowed (first: ${t.firstMissed ?? ''})`;

async function main(): Promise<void> {
  const runs = Number(values.runs);
  const attemptTime = DELAY_MS;

  // 1. Rounds: one session per pod for the run, against one exec per pod per round.
  console.log(
    `bench:run rounds: ${ROUNDS.pods} source pods × ${ROUNDS.attempts} attempts, answered after ${DELAY_MS} ms, ${ROUNDS.rounds} rounds, ${runs} runs`,
  );
  const server = await startServer(['--pods', String(ROUNDS.pods), '--spawn', values.spawn]);
  const persistent: Timed[] = [];
  const warm: (Timed & { canaryMs?: number })[] = [];
  const perRound: Timed[] = [];
  const floor: Timed[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const readCpu = () => server.cpu();
      const p = await persistentRounds(server.kubeConfig, ROUNDS.rounds, ROUNDS.pods, ROUNDS.attempts, {
        readCpu,
      });
      const w = await persistentRounds(server.kubeConfig, 1, ROUNDS.pods, ROUNDS.attempts, {
        canary: true,
        readCpu,
      });
      const o = await perRoundRounds(server.kubeConfig, ROUNDS.rounds, ROUNDS.pods, ROUNDS.attempts, readCpu);
      const f = await child<Timed>(['--role', 'floor']);
      persistent.push(p);
      warm.push(w);
      perRound.push(o);
      floor.push(f);
      console.log(`  run ${i + 1}: persistent ${p.times.map(sec).join(' / ')} s${missedText(p)}`);
      console.log(
        `         after the canary dial ${sec(w.canaryMs ?? 0)} s: round 1 ${sec(w.times[0] ?? 0)} s${missedText(w)}`,
      );
      console.log(`         per-round  ${o.times.map(sec).join(' / ')} s${missedText(o)}`);
      console.log(`         floor      ${f.times.map(sec).join(' / ')} s${missedText(f)}`);
      console.log(`         CPU s per round, harness/fake/app/agents: persistent ${cpuText(p)}`);
      console.log(`                                                   floor      ${cpuText(f)}`);
    }
  } finally {
    await server.stop();
  }
  const round = (of: Timed[], r: number) => median(of.map((t) => t.times[r] ?? 0));
  const later = (of: Timed[]) => median(of.flatMap((t) => t.times.slice(1)));
  const missed = (of: Timed[]) => of.reduce((n, t) => n + t.missed, 0);
  const p1 = round(persistent, 0);
  const p2 = round(persistent, 1);
  const p3 = round(persistent, 2);
  const pLater = later(persistent);
  const o1 = round(perRound, 0);
  const oLater = later(perRound);
  const w1 = round(warm, 0);
  const wCanary = median(warm.map((w) => w.canaryMs ?? 0));
  const f1 = round(floor, 0);
  const fLater = later(floor);

  // 2. Fan-out: the default cap, the fake refusing beyond it, the harness in its own process.
  const fan: (Timed & { peakRssBytes: number; counts: ExecCounts })[] = [];
  if (!values['rounds-only']) {
    console.log(
      `bench:run fan-out: ${FANOUT.pods} source pods × ${FANOUT.attempts} attempts, ${FANOUT.rounds} rounds, ` +
        `--exec-concurrency ${DEFAULT_EXEC_CONCURRENCY}; each exec takes ${FANOUT.openDelayMs} ms to open and one beyond ${DEFAULT_EXEC_CONCURRENCY} opening is refused`,
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-run-'));
    try {
      for (let i = 0; i < runs; i++) {
        const f = await fanoutCase(dir);
        fan.push(f);
        console.log(
          `  run ${i + 1}: rounds ${f.times.map(sec).join(' / ')} s, peak harness RSS ${mb(f.peakRssBytes)} MB, ` +
            `execs opening at most ${f.counts.peakOpening}, open at most ${f.counts.peakOpen}, refused ${f.counts.refused}${missedText(f)}`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const rss = median(fan.map((f) => f.peakRssBytes));
  const refused = fan.reduce((n, f) => n + f.counts.refused, 0);

  console.log(
    `floor (the agents fed directly, no exec): round 1 ${sec(f1)} s, rounds 2+ median ${sec(fLater)} s; ` +
      `the harness adds ${sec(p1 - f1)} s to round 1 and ${sec(pLater - fLater)} s to each later round`,
  );
  const laterCpu = (of: Timed[], pick: (c: RoundCpu) => number) =>
    median(of.flatMap((t) => (t.cpu ?? []).slice(1).map(pick)));
  const cpuLine = (of: Timed[]) =>
    `harness ${sec(laterCpu(of, (c) => c.harness))}, fake API server ${sec(laterCpu(of, (c) => c.fake))}, ` +
    `app ${sec(laterCpu(of, (c) => c.app))}, agents ${sec(laterCpu(of, (c) => c.agents))}, total ${sec(laterCpu(of, cpuSum))} s`;
  console.log(
    `CPU per later round (medians; ${ROUNDS.pods * ROUNDS.attempts} attempts, 2 cores give 2 s per second): persistent ${cpuLine(persistent)}; floor ${cpuLine(floor)}`,
  );
  console.log(
    `per-round (one exec per pod per round): round 1 ${sec(o1)} s, rounds 2+ median ${sec(oLater)} s, ${missed(perRound)} attempts not allowed`,
  );
  console.log(
    `persistent: round 1 with the sessions opening in it ${sec(p1)} s (${(p1 / attemptTime).toFixed(2)}× the attempt time; a run opens them before round 1), ` +
      `round 2 ${sec(p2)} s, round 3 ${sec(p3)} s (target 1.3×: ${check(Math.max(p2, p3) <= 1.3 * attemptTime)}), ` +
      `${missed(persistent)} attempts not allowed; rounds 2+ ${(oLater / pLater).toFixed(2)}× faster than per-round`,
  );
  console.log(
    `persistent, round 1 as a run has it, the sessions opened first (here by the network canary's dial; without a canary a run opens them with an empty batch while the barriers wait): canary dial ${sec(wCanary)} s, ` +
      `round 1 ${sec(w1)} s (${(w1 / attemptTime).toFixed(2)}× the attempt time, target 2×: ${check(w1 <= 2 * attemptTime)}), ${missed(warm)} attempts not allowed`,
  );
  if (fan.length === 0) console.log('fan-out: skipped (--rounds-only)');
  else
    console.log(
      `fan-out: median rounds ${sec(median(fan.map((f) => f.times[0] ?? 0)))} / ${sec(median(fan.map((f) => f.times[1] ?? 0)))} s, ` +
        `median peak harness RSS ${mb(rss)} MB (target < 300 MB: ${check(rss < FANOUT.rssLimitBytes)}), ` +
        `most opening at once ${Math.max(...fan.map((f) => f.counts.peakOpening))}, execs refused ${refused} (target 0: ${check(refused === 0)}), ` +
        `${missed(fan)} attempts not allowed`,
    );
  console.log(
    `rounds 2+: median ${sec(pLater)} s per round, attempt time ${sec(attemptTime)} s, ratio ${(pLater / attemptTime).toFixed(2)}`,
  );
}

if (values.role === 'server') await serve();
else if (values.role === 'floor') await floorRun();
else if (values.role === 'fanout') await fanoutRun();
else await main();
