/**
 * `npm run bench:agent-cpu`: what the agent's own work costs in CPU, shaped like `bench:run`'s
 * rounds: 60 agent sessions started at once, each fed 3 batches of 20 HTTP attempts that a local
 * app answers after 1 s, one batch per round, all pods at once. Read from /proc per agent process
 * (clock ticks, 10 ms each, summed over the agents):
 *
 * - start: from spawn to the end line of an empty first batch (the Node start, loading the
 *   bundle, the session's first read), per agent;
 * - round 1 and rounds 2+: the CPU of the batch, per attempt (round 1 runs the code cold).
 *
 * `--bundle A --bundle B` runs two bundles in turns, run after run, so that both see the same
 * moment of a shared machine: compare them within one invocation, not across days. Default: the
 * bundle built from this checkout. The agents start with the node flags a run's exec gives them
 * (`--node-flag F` repeated to choose others, `--no-node-flags` for none). The wall time of each
 * round is printed too, but on a loaded
 * machine only the CPU figures mean anything. Linux only (/proc).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

import { SHORT_WORK_NODE_FLAGS } from '../harness/agent/v8-tiers.js';
import { agentBundle } from '../test/agent/support/agent-process.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    bundle: { type: 'string', multiple: true, default: [] },
    pods: { type: 'string', default: '60' },
    attempts: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    delay: { type: 'string', default: '1000' },
    node: { type: 'string', default: process.execPath },
    // The node flags before the bundle; default the ones a run's exec gives it (harness/run/fixtures.ts).
    'node-flag': { type: 'string', multiple: true, default: [...SHORT_WORK_NODE_FLAGS] },
    // No node flags at all, for A/B runs against the default.
    'no-node-flags': { type: 'boolean', default: false },
  },
});
const PODS = Number(values.pods);
const ATTEMPTS = Number(values.attempts);
const ROUNDS = Number(values.rounds);

/** The app every attempt reaches, as in bench:run: 200 `{}` after the delay, on a thread of its own. */
const APP = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const app = createServer((req, res) => {
  req.resume();
  setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), workerData.delayMs);
});
app.listen(0, '127.0.0.1', 4096, () => parentPort.postMessage(app.address().port));
`;

/** utime + stime of a process in ms (proc_pid_stat(5) fields 14 and 15, 100 Hz ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Session {
  readonly child: ChildProcessWithoutNullStreams;
  /** Sends one batch line and resolves at its end line, with each result's outcome and reason. */
  batch(attempts: readonly object[]): Promise<string[]>;
}

function session(bundle: string): Session {
  const flags = values['no-node-flags'] ? [] : values['node-flag'];
  const child = spawn(values.node, [...flags, bundle, 'session'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.resume();
  let outcomes: string[] = [];
  let ended: (seen: string[]) => void = () => undefined;
  void (async () => {
    for await (const line of createInterface({ input: child.stdout })) {
      const value = JSON.parse(line) as { end?: boolean; outcome?: string; reason?: string };
      if (value.end === true) {
        const seen = outcomes;
        outcomes = [];
        ended(seen);
      } else outcomes.push(`${String(value.outcome)}: ${String(value.reason)}`);
    }
  })();
  return {
    child,
    batch: (attempts) =>
      new Promise((resolve) => {
        ended = resolve;
        child.stdin.write(JSON.stringify({ batch: 'b', attempts }) + '\n');
      }),
  };
}

interface RunFigures {
  /** CPU per agent start, ms. */
  readonly startMs: number;
  /** CPU per attempt in each round, ms. */
  readonly perAttemptMs: number[];
  /** Wall time of each round, ms. */
  readonly wallMs: number[];
}

async function run(bundle: string, port: number): Promise<RunFigures> {
  const sessions = Array.from({ length: PODS }, () => session(bundle));
  const pids = sessions.map((s) => s.child.pid ?? 0);
  const total = (): number => pids.reduce((n, pid) => n + cpuMs(pid), 0);
  await Promise.all(sessions.map((s) => s.batch([])));
  let before = total();
  const startMs = before / PODS;
  const perAttemptMs: number[] = [];
  const wallMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now();
    const seen = await Promise.all(
      sessions.map((s, p) =>
        s.batch(
          Array.from({ length: ATTEMPTS }, (_, i) => ({
            id: `p${p}-r${r}-${i}`,
            kind: 'http',
            host: '127.0.0.1',
            port,
            timeoutMs: 5000,
          })),
        ),
      ),
    );
    wallMs.push(performance.now() - started);
    // An attempt that missed its deadline on a starved machine makes the round's CPU not comparable.
    const other = seen.flat().find((o) => !o.startsWith('allowed:'));
    if (other !== undefined) throw new Error(`${bundle}, round ${r + 1}: an attempt ended ${other}`);
    const after = total();
    perAttemptMs.push((after - before) / (PODS * ATTEMPTS));
    before = after;
  }
  await Promise.all(
    sessions.map(
      (s) =>
        new Promise((resolve) => {
          s.child.once('exit', resolve);
          s.child.stdin.end();
        }),
    ),
  );
  return { startMs, perAttemptMs, wallMs };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

const bundles = values.bundle.length > 0 ? values.bundle : [await agentBundle()];
const app = new Worker(APP, { eval: true, workerData: { delayMs: Number(values.delay) } });
const port = await new Promise<number>((resolve) => app.once('message', resolve));
process.stdout.write(
  `agent CPU bench: ${PODS} sessions × ${ATTEMPTS} http attempts answered after ${values.delay} ms, ${ROUNDS} rounds, ${values.runs} runs per bundle, agent on ${values.node} ${(values['no-node-flags'] ? [] : values['node-flag']).join(' ')}\n`,
);
const figures = new Map<string, RunFigures[]>(bundles.map((b) => [b, []]));
for (let i = 0; i < Number(values.runs); i++) {
  for (const bundle of bundles) {
    const f = await run(bundle, port);
    figures.get(bundle)?.push(f);
    process.stdout.write(
      `  run ${i + 1} ${bundle}: start ${f.startMs.toFixed(1)} ms CPU, per attempt ${f.perAttemptMs.map((x) => x.toFixed(3)).join(' / ')} ms CPU, ` +
        `wall ${f.wallMs.map((x) => (x / 1000).toFixed(2)).join(' / ')} s, load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}\n`,
    );
  }
}
for (const [bundle, fs] of figures) {
  const later = median(fs.flatMap((f) => f.perAttemptMs.slice(1)));
  process.stdout.write(
    `${bundle}: medians: start ${median(fs.map((f) => f.startMs)).toFixed(1)} ms CPU per agent, ` +
      `round 1 ${median(fs.map((f) => f.perAttemptMs[0] ?? 0)).toFixed(3)} ms, rounds 2+ ${later.toFixed(3)} ms CPU per attempt ` +
      `(${((later * PODS * ATTEMPTS) / 1000).toFixed(2)} s per round of ${PODS * ATTEMPTS})\n`,
  );
}
await app.terminate();
