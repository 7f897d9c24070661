/**
 * `npm run bench:cli`: how long the command line takes to start and answer, the way a user runs
 * it: `node bin/bulkhead.js` in a fresh child process, running the compiled build in dist/ (the
 * npm script builds it first). For `--version`, `validate` and `plan` of the shipped scenario:
 * 10 runs each after one to warm the file cache, the median wall time and the highest peak RSS.
 *
 *   npm run bench:cli
 *   npm run bench:cli -- --runs 20
 *   npm run bench:cli -- --bin node_modules/bulkhead/bin/bulkhead.js   # an installed copy
 *
 * Peak RSS is GNU time's `%M` when /usr/bin/time is there; otherwise the child reports its own
 * `process.resourceUsage().maxRSS` at exit (a preloaded module), which is the same figure.
 * Exits 1 when a command is over its budget (`--version` 0.3 s and 80 MB, `plan` 1 s).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

import { buildIsCurrent } from '../bin/build-state.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TIME = '/usr/bin/time';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    bin: { type: 'string', default: path.join(ROOT, 'bin', 'bulkhead.js') },
  },
});
const runs = Number(values.runs);
const bin = path.resolve(values.bin);

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  readonly limitMs?: number;
  readonly limitMb?: number;
}

const CASES: readonly Case[] = [
  { name: '--version', args: ['--version'], limitMs: 300, limitMb: 80 },
  { name: 'validate', args: ['validate', '-f', 'scenarios/hard-isolation.yaml'] },
  { name: 'plan', args: ['plan', '-f', 'scenarios/hard-isolation.yaml'], limitMs: 1000 },
];

interface Sample {
  readonly ms: number;
  readonly rssMb: number;
}

const scratch = await mkdtemp(path.join(tmpdir(), 'bulkhead-bench-cli-'));
const rssFile = path.join(scratch, 'rss');
// Without GNU time: the child writes its own peak RSS (kB, as maxRSS gives it) when it exits.
const reporter = path.join(scratch, 'report-rss.mjs');
await writeFile(
  reporter,
  `import { writeFileSync } from 'node:fs';
process.on('exit', () => writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));
`,
);
const useTime = existsSync(TIME);

const run = promisify(execFile);

async function once(args: readonly string[]): Promise<Sample> {
  const command = useTime
    ? [TIME, '-f', '%M', '-o', rssFile, process.execPath, bin, ...args]
    : [process.execPath, '--import', reporter, bin, ...args];
  const [file = '', ...rest] = command;
  const t0 = performance.now();
  try {
    await run(file, rest, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
  } catch (error) {
    // plan exits 1 when a declared expectation contradicts a prediction; that is still an answer.
    const code = (error as { code?: unknown }).code;
    if (code !== 1) throw new Error(`bulkhead ${args.join(' ')} failed`, { cause: error });
  }
  const ms = performance.now() - t0;
  const text = await readFile(rssFile, 'utf8');
  return { ms, rssMb: Number(text.trim().split('\n').pop()) / 1024 };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

// bin runs the sources through tsx when dist/ is older than them: that is not what is measured.
const stale = () => {
  if (path.dirname(path.dirname(bin)) !== path.resolve(ROOT) || buildIsCurrent(ROOT)) return false;
  console.error('dist/ is older than the sources (bin would run them through tsx): run npm run build');
  process.exitCode = 2;
  return true;
};
let failed = false;
if (stale()) process.exit();
try {
  console.log(
    `${bin.startsWith(ROOT) ? path.relative(ROOT, bin) : bin}, ${runs} runs each, peak RSS from ${useTime ? TIME : 'maxRSS'}`,
  );
  console.log('command    median ms  min ms  max ms  peak RSS MB  budget');
  for (const c of CASES) {
    await once(c.args); // warm the file cache
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await once(c.args));
    const ms = samples.map((s) => s.ms);
    const med = median(ms);
    const rss = Math.max(...samples.map((s) => s.rssMb));
    const over = (c.limitMs !== undefined && med > c.limitMs) || (c.limitMb !== undefined && rss > c.limitMb);
    if (over) failed = true;
    const budget = [
      c.limitMs === undefined ? '' : `< ${c.limitMs} ms`,
      c.limitMb === undefined ? '' : `< ${c.limitMb} MB`,
    ]
      .filter(Boolean)
      .join(', ');
    console.log(
      `${c.name.padEnd(9)}  ${med.toFixed(0).padStart(9)}  ${Math.min(...ms)
        .toFixed(0)
        .padStart(6)}  ${Math.max(...ms)
        .toFixed(0)
        .padStart(6)}  ${rss.toFixed(0).padStart(11)}  ${budget}${over ? '  OVER' : ''}`,
    );
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}
if (stale()) process.exit();
if (failed) {
  console.error('over budget: --version must answer in 0.3 s within 80 MB, plan in 1 s');
  process.exitCode = 1;
}
