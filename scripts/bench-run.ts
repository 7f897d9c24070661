/**
 * `npm run bench:run`: the execute phase against the fake API server, the way a run does it.
 *
 * 1. Rounds: 60 source pods × 20 attempts, every attempt answered by a local server after 1 s,
 *    3 rounds, with one agent session per pod for all rounds (harness/run/sessions.ts) and the
 *    old way, one exec and one Node start per pod per round (harness/run/execute.ts runRound,
 *    which a run still uses where the API server speaks only v4 exec). With sessions, round 1
 *    should cost at most 2× the attempt time (the execs and Node starts) and every later round at
 *    most 1.3× (nothing but the attempts). Round 1 is measured twice: cold, the sessions opening
 *    in it (a run without a network canary), and after one canary dial per pod opened them (a run
 *    with the Calico barrier, whose dials go on the sessions: harness/run/canary.ts).
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
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { KubeConfig } from '@kubernetes/client-node';

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
`;

/** `--role server`: prints the kubeconfig, then answers `counts` and `reset` lines on stdin. */
async function serve(): Promise<void> {
  const pods = Number(values.pods);
  // The app answers from a thread of its own, so the fake API server's work never delays it.
  const app = new Worker(APP, { eval: true, workerData: { delayMs: DELAY_MS } });
  const appPort = await new Promise<number>((resolve) => app.once('message', resolve));
  const maxOpening = values['max-opening'] === undefined ? undefined : Number(values['max-opening']);
  const server = await new FakeApiServer({
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      route: () => appPort,
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
  for await (const line of createInterface({ input: process.stdin })) {
    const counts: ExecCounts = server.execCounts;
    if (line === 'reset') Object.assign(counts, { peakOpening: 0, peakOpen: 0, refused: 0 });
    process.stdout.write(JSON.stringify(counts) + '\n');
  }
  await server.stop();
  await app.terminate();
  process.exit(0);
}

interface ServerProcess {
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigText: string;
  ask(what: 'counts' | 'reset'): Promise<ExecCounts>;
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

interface Timed {
  /** Wall time of each round, ms. */
  readonly times: number[];
  /** Attempts not observed allowed, over all rounds, and the first of them. */
  readonly missed: number;
  readonly firstMissed?: string;
}

/**
 * Times each round, and counts the attempts that were not observed allowed: an agent starved of
 * CPU misses its deadlines, and a round with misses measured less than it seems.
 */
async function timedRounds(
  rounds: number,
  batches: readonly SourceBatch[],
  round: (observe: (o: RoundObservation) => void) => Promise<void>,
): Promise<Timed> {
  const total = batches.reduce((n, b) => n + b.attempts.length, 0);
  const times: number[] = [];
  let missed = 0;
  let firstMissed: string | undefined;
  for (let r = 1; r <= rounds; r++) {
    const { tally: t, observe } = tally();
    const start = performance.now();
    await round(observe);
    times.push(performance.now() - start);
    if (t.observed !== total) throw new Error(`round ${r}: ${t.observed} of ${total} attempts observed`);
    missed += total - t.allowed;
    firstMissed ??= t.other;
  }
  return { times, missed, ...(firstMissed ? { firstMissed } : {}) };
}

async function persistentRounds(
  kubeConfig: KubeConfig,
  rounds: number,
  pods: number,
  attempts: number,
  options: { readonly canary?: boolean } = {},
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
    const timed = await timedRounds(rounds, batches, (observe) => sessions.round({ batches, observe }));
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
): Promise<Timed> {
  const { workloads, batches } = layout(pods, attempts);
  const scenario = { clusterDomain: 'cluster.local', workloads };
  const transport: Transport = { mode: 'stdin' };
  const openings = new OpeningLimit();
  return timedRounds(rounds, batches, (observe) =>
    runRound({ kubeConfig, scenario, batches, observe, transport, openings }),
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
    const child = spawn(process.execPath, [bundle, 'session'], { stdio: ['pipe', 'pipe', 'inherit'] });
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
    };
  });
  const timed = await timedRounds(ROUNDS.rounds, batches, (observe) =>
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
  );
  for (const agent of agents) agent.end();
  await app.terminate();
  process.stdout.write(JSON.stringify(timed) + '\n');
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
const missedText = (t: Timed): string =>
  t.missed === 0 ? '' : `, ${t.missed} not allowed (first: ${t.firstMissed ?? ''})`;

async function main(): Promise<void> {
  const runs = Number(values.runs);
  const attemptTime = DELAY_MS;

  // 1. Rounds: one session per pod for the run, against one exec per pod per round.
  console.log(
    `bench:run rounds: ${ROUNDS.pods} source pods × ${ROUNDS.attempts} attempts, answered after ${DELAY_MS} ms, ${ROUNDS.rounds} rounds, ${runs} runs`,
  );
  const server = await startServer(['--pods', String(ROUNDS.pods)]);
  const persistent: Timed[] = [];
  const warm: (Timed & { canaryMs?: number })[] = [];
  const perRound: Timed[] = [];
  const floor: Timed[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const p = await persistentRounds(server.kubeConfig, ROUNDS.rounds, ROUNDS.pods, ROUNDS.attempts);
      const w = await persistentRounds(server.kubeConfig, 1, ROUNDS.pods, ROUNDS.attempts, { canary: true });
      const o = await perRoundRounds(server.kubeConfig, ROUNDS.rounds, ROUNDS.pods, ROUNDS.attempts);
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
  console.log(
    `bench:run fan-out: ${FANOUT.pods} source pods × ${FANOUT.attempts} attempts, ${FANOUT.rounds} rounds, ` +
      `--exec-concurrency ${DEFAULT_EXEC_CONCURRENCY}; each exec takes ${FANOUT.openDelayMs} ms to open and one beyond ${DEFAULT_EXEC_CONCURRENCY} opening is refused`,
  );
  const fan: (Timed & { peakRssBytes: number; counts: ExecCounts })[] = [];
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
  const rss = median(fan.map((f) => f.peakRssBytes));
  const refused = fan.reduce((n, f) => n + f.counts.refused, 0);

  console.log(
    `floor (the agents fed directly, no exec): round 1 ${sec(f1)} s, rounds 2+ median ${sec(fLater)} s; ` +
      `the harness adds ${sec(p1 - f1)} s to round 1 and ${sec(pLater - fLater)} s to each later round`,
  );
  console.log(
    `per-round (one exec per pod per round): round 1 ${sec(o1)} s, rounds 2+ median ${sec(oLater)} s, ${missed(perRound)} attempts not allowed`,
  );
  console.log(
    `persistent: round 1 ${sec(p1)} s (${(p1 / attemptTime).toFixed(2)}× the attempt time, target 2×: ${check(p1 <= 2 * attemptTime)}), ` +
      `round 2 ${sec(p2)} s, round 3 ${sec(p3)} s (target 1.3×: ${check(Math.max(p2, p3) <= 1.3 * attemptTime)}), ` +
      `${missed(persistent)} attempts not allowed; rounds 2+ ${(oLater / pLater).toFixed(2)}× faster than per-round`,
  );
  console.log(
    `persistent, the sessions opened by the network canary's dial first (a run with a Calico barrier): canary dial ${sec(wCanary)} s, ` +
      `round 1 ${sec(w1)} s (${(w1 / attemptTime).toFixed(2)}× the attempt time, target 2×: ${check(w1 <= 2 * attemptTime)}), ${missed(warm)} attempts not allowed`,
  );
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
