/**
 * Fuzzing the input paths: mutations of the shipped scenario (and of a policy manifest), each run
 * through `validate` and `plan` (manifests through `lint` and a scenario's `policies: file`).
 * Whatever the input, bulkhead must answer with exit 0, 1 or 2, never a stack trace or an
 * "internal error", and within a time limit. The mutations come from a fixed-seed PRNG, so a
 * failure names a variant that reproduces (`BULKHEAD_FUZZ_KEEP=1` keeps the variants' folder).
 *
 * Runs go to worker threads (one per core, at most 2) that call the CLI's `main()` in-process; a
 * worker whose run overruns the limit is terminated and replaced, so a hang is a finding, not a
 * stalled suite.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { expect } from 'chai';
import { parseAllDocuments, stringify } from 'yaml';

import { repoRoot } from '../support/scenarios.js';
import type { FuzzAnswer, FuzzTask } from './fuzz-worker.js';

const SEED = 0x5eed_2024;
const SCENARIO_VARIANTS = 320;
const MANIFEST_VARIANTS = 80;
/** Per run; a valid shipped-size scenario takes well under a second. */
const RUN_LIMIT_MS = 15_000;

/** mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const int = (r: Random, n: number) => Math.floor(r() * n);
const pick = <T>(r: Random, items: readonly T[]): T => items[int(r, items.length)] as T;

/** Values that have broken parsers before: edge numbers, YAML specials, huge and odd strings. */
const VALUES = [
  '',
  '~',
  'null',
  '[]',
  '{}',
  '-1',
  '0',
  '65536',
  '1e400',
  '-.inf',
  '.nan',
  '0x1F',
  '0o17',
  '99999999999999999999999999',
  '1.5',
  'true',
  '"*"',
  "'{victimNamespace}'",
  '"\\u0000"',
  '!!binary aGVsbG8=',
  '!!timestamp 2001-12-14',
  '!!set { a, b }',
  '!custom value',
  '*nowhere',
  '&anchor value',
  'x'.repeat(100_000),
  '"' + 'é'.repeat(20_000) + '"',
  '9'.repeat(5_000),
  '[' + '1,'.repeat(5_000) + '1]',
  '[a, [b, [c, [d]]]]',
  '{ <<: { a: 1 } }',
  '"tenant-acme/probe"',
  'tenant-acme/../etc',
  '/dev/zero',
  '.',
  'cross-tenant',
  'denied',
  'auto',
  '[denied-l7, reset]',
];

const TOKENS = [
  ':',
  ': ',
  '-',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '#',
  '&a ',
  '*a',
  '<<: ',
  '? ',
  '|',
  '>',
  '"',
  "'",
  '\t',
  '\n',
  '\n  ',
  '---\n',
  '...\n',
  '%YAML 1.1\n---\n',
  '!!str ',
  '!!map ',
  '!!seq ',
  '\u0000',
  '\ufeff',
  '\u2028',
  '\\',
  '{source}',
];

/** Structures that stress the parser or the expansion, spliced in as a whole line. */
function bigInsert(r: Random): string {
  switch (int(r, 6)) {
    case 0: {
      // An alias bomb: each level refers to the previous one ten times.
      const lines = ['x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
      for (let i = 1; i < 9; i++)
        lines.push(
          `x${i}: &x${i} [${Array(10)
            .fill(`*x${i - 1}`)
            .join(', ')}]`,
        );
      return lines.join('\n');
    }
    case 1:
      return `deep: ${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    case 2:
      return `deep: ${'{a: '.repeat(5_000)}1${'}'.repeat(5_000)}`;
    case 3:
      return Array.from({ length: 2_000 }, (_, i) => `k${i % 50}: v`).join('\n');
    case 4:
      return `  - ${'a: &b '.repeat(1_000)}1`;
    default:
      return `long: ${'y'.repeat(1_000_000)}`;
  }
}

/** Many more tenants than any real cluster has: the expansion must be refused, not attempted. */
function manyTenants(text: string, r: Random): string {
  const n = pick(r, [40, 120, 400, 2_000]);
  const extra = Array.from(
    { length: n },
    (_, i) => `    - name: t${i}\n      workloads: *tenant-workloads`,
  ).join('\n');
  return text.replace(/^ {2}namespaces:/m, `${extra}\n  namespaces:`);
}

function mutateOnce(text: string, r: Random): string {
  const lines = text.split('\n');
  const line = int(r, lines.length);
  const at = int(r, text.length + 1);
  switch (int(r, 16)) {
    case 0:
      lines.splice(line, 1);
      return lines.join('\n');
    case 1:
      lines.splice(line, 0, lines[line] ?? '');
      return lines.join('\n');
    case 2: {
      const other = int(r, lines.length);
      [lines[line], lines[other]] = [lines[other] ?? '', lines[line] ?? ''];
      return lines.join('\n');
    }
    case 3:
      return text.slice(0, at);
    case 4:
    case 5:
      return text.slice(0, at) + pick(r, TOKENS) + text.slice(at);
    case 6:
    case 7: {
      // A mapping value replaced.
      const candidates = lines.flatMap((l, i) => (/^\s*-?\s*[\w-]+: \S/.test(l) ? [i] : []));
      const i = candidates.length ? pick(r, candidates) : line;
      lines[i] = (lines[i] ?? '').replace(/^(\s*-?\s*[\w-]+: ).*$/, `$1${pick(r, VALUES)}`);
      return lines.join('\n');
    }
    case 8: {
      const shift = pick(r, [-4, -2, -1, 1, 2, 4]);
      const l = lines[line] ?? '';
      lines[line] =
        shift < 0 ? l.slice(Math.min(-shift, l.length - l.trimStart().length)) : ' '.repeat(shift) + l;
      return lines.join('\n');
    }
    case 9:
      return text.slice(0, at) + text.slice(at + 1 + int(r, 40));
    case 10: {
      // A key renamed to another key of the file (or a typo of it).
      const keys = [...text.matchAll(/^\s*-?\s*([\w-]+):/gm)].map((m) => m[1] ?? '');
      const candidates = lines.flatMap((l, i) => (/^\s*-?\s*[\w-]+:/.test(l) ? [i] : []));
      const i = candidates.length ? pick(r, candidates) : line;
      const key = pick(r, keys);
      const typo = r() < 0.3 ? key.slice(1) : key;
      lines[i] = (lines[i] ?? '').replace(/^(\s*-?\s*)[\w-]+:/, `$1${typo}:`);
      return lines.join('\n');
    }
    case 11: {
      // Bytes that are not UTF-8 (kept as latin1 code points; written out byte for byte below).
      const bytes = String.fromCharCode(pick(r, [0x80, 0xc3, 0xff, 0xfe, 0xed]));
      return text.slice(0, at) + `\u{10FFFF}RAW${bytes}\u{10FFFF}` + text.slice(at);
    }
    case 12:
      lines.splice(line, 0, bigInsert(r));
      return lines.join('\n');
    case 13:
      return manyTenants(text, r);
    case 14: {
      // A block duplicated: the same keys twice, or the same list items twice.
      const from = int(r, lines.length);
      const block = lines.slice(from, from + 1 + int(r, 8));
      lines.splice(from + block.length, 0, ...block);
      return lines.join('\n');
    }
    default:
      return lines.filter(() => r() > 0.1).join('\n');
  }
}

function mutate(text: string, r: Random, specials: readonly string[] = []): string {
  // Some variants are edits known to stress one stage; of the rest, half keep valid YAML and
  // change what it says (reaching the schema, the loader, the generators and the model), half
  // change the text itself (reaching the parser).
  if (specials.length > 0 && r() < 0.2) return edit(text, r, specials);
  if (r() < 0.5) return mutateValues(text, r);
  let out = text;
  const rounds = 1 + int(r, 2);
  for (let i = 0; i < rounds; i++) out = mutateOnce(out, r);
  return out;
}

/**
 * Edits of the scenario that each stress one stage: topologies far past the attempt cap, policy
 * files that are not regular files, nesting just short of what the parser survives, cycles,
 * tags and merge keys. `specials` are paths of odd files (a FIFO, a folder, a symlink loop, …).
 */
function edit(text: string, r: Random, specials: readonly string[]): string {
  const policiesAt = '    - builtin: hard-isolation';
  switch (int(r, 10)) {
    case 0:
    case 1: {
      // Many tenants, written out (no alias): thousands of workloads.
      const n = pick(r, [60, 150, 400]);
      const tenants = Array.from(
        { length: n },
        (_, i) =>
          `    - name: x${i}\n      workloads:\n` +
          ['api', 'web', 'db', 'pay']
            .map((w) => `        - { name: ${w}, serviceAccount: ${w}, ports: [{ port: 8080, name: http }] }`)
            .join('\n'),
      ).join('\n');
      return text.replace(/^ {2}namespaces:/m, `${tenants}\n  namespaces:`);
    }
    case 2:
    case 3:
      return text.replace(policiesAt, `${policiesAt}\n    - file: ${JSON.stringify(pick(r, specials))}`);
    case 4: {
      const depth = pick(r, [60, 200, 600, 900]);
      return text.replace(
        'labels: { role: shared-services }',
        `labels: { role: ${'['.repeat(depth)}x${']'.repeat(depth)} }`,
      );
    }
    case 5:
      return text.replace(
        'labels: { role: shared-services }',
        'labels: &l { role: shared-services, self: *l }',
      );
    case 6:
      return text.replace(
        '    - name: acme\n',
        `    - name: acme\n      labels: ${pick(r, ['!!binary aGk=', '!!set { a, b }', '!!timestamp 2001-12-14', '!!omap [{a: 1}]', '!local x'])}\n`,
      );
    case 7:
      return `%YAML 1.1\n---\n${text.replace('labels: { role: shared-services }', 'labels: { <<: { role: shared-services } }')}`;
    case 8: {
      // One workload serving thousands of ports, some twice.
      const ports = Array.from({ length: 3_000 }, (_, i) => 1000 + (i % 2_500)).join(', ');
      return text.replace('      ports: [{ port: 8080, name: http }]\n\n', `      ports: [${ports}]\n\n`);
    }
    default: {
      // Thousands of explicit attempts, all the same id.
      const attempt =
        '    - { id: same, kind: tcp, from: tenant-acme/probe, to: tenant-globex/api-gateway, port: 8080 }';
      return text.replace(/^ {2}attempts:\n/m, `  attempts:\n${Array(5_000).fill(attempt).join('\n')}\n`);
    }
  }
}

/** Values of every kind the documents hold, and edge values, to put in place of others. */
const EDGE_VALUES: unknown[] = [
  0,
  -1,
  1,
  65535,
  65536,
  2 ** 31,
  2 ** 53 + 2,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '',
  ' ',
  '*',
  '/',
  '..',
  'a'.repeat(300),
  'x'.repeat(70_000),
  'é✓\u202e',
  '{source}{victim}{victimNamespace}',
  'tenant-acme/probe',
  'shared-services/log-collector',
  'all',
  'denied',
  'auto',
  'udp',
  'UDP',
  'SRV',
  'PTR',
  null,
  true,
  false,
  [],
  {},
  [null],
  ['tenant-acme/probe', 'tenant-acme/probe'],
  { port: 8080, protocol: 'UDP', name: 'dns' },
  { port: 0 },
];

/** Parses the documents, changes some values, keys and list items, and writes them back. */
function mutateValues(text: string, r: Random): string {
  const docs = parseAllDocuments(text).map((d) => d.toJS({ maxAliasCount: -1 }) as unknown);
  const pool: unknown[] = [...EDGE_VALUES];
  const collect = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    else pool.push(v);
  };
  docs.forEach(collect);
  const rate = pick(r, [0.005, 0.01, 0.02, 0.05]);
  const change = (v: unknown, depth: number): unknown => {
    if (Array.isArray(v)) {
      const out = v.map((x) => change(x, depth + 1));
      if (r() < rate && out.length > 0) out.splice(int(r, out.length), 1);
      if (r() < rate && out.length > 0) out.push(structuredClone(out[int(r, out.length)]));
      if (r() < rate / 4 && out.length > 0) {
        // Many copies of an item: tenants, workloads, ports or attempts by the hundred.
        const item = out[int(r, out.length)];
        for (let i = 0; i < 50 + int(r, 400); i++) out.push(rename(structuredClone(item), i));
      }
      return out;
    }
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        // Rarely a key left out (most are required); never a document's apiVersion or kind.
        if (depth > 0 && r() < rate / 3) continue;
        if (depth === 0 && (k === 'apiVersion' || k === 'kind')) {
          out[k] = x;
          continue;
        }
        out[r() < rate / 3 ? pick(r, [...Object.keys(v), 'extra', 'Kind', 'spec']) : k] = change(
          x,
          depth + 1,
        );
      }
      return out;
    }
    return r() < rate ? structuredClone(pick(r, pool)) : v;
  };
  return docs.map((d) => stringify(change(d, 0), { aliasDuplicateObjects: false })).join('---\n');
}

/** A copy of a list item with its names made unique, so copies are not merely duplicates. */
function rename(item: unknown, i: number): unknown {
  if (item && typeof item === 'object' && !Array.isArray(item)) {
    const o = item as Record<string, unknown>;
    for (const k of ['name', 'id', 'namespace']) {
      const v = o[k];
      if (typeof v === 'string') o[k] = `${v}${i}`;
    }
  }
  return item;
}

/** The text as bytes; `\u{10FFFF}RAW<c>\u{10FFFF}` stands for the single raw byte <c>. */
function toBytes(text: string): Buffer {
  const parts = text.split('\u{10FFFF}');
  return Buffer.concat(
    parts.map((p) =>
      p.startsWith('RAW') && p.length === 4 ? Buffer.from([p.charCodeAt(3)]) : Buffer.from(p),
    ),
  );
}

interface Variant {
  readonly name: string;
  readonly args: readonly string[];
  readonly cwd: string;
}

interface Outcome extends Variant {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
}

/** Runs every variant on a small pool of workers, each run under RUN_LIMIT_MS. */
async function runAll(variants: readonly Variant[]): Promise<Outcome[]> {
  const workerFile = new URL('./fuzz-worker.ts', import.meta.url);
  const size = Math.max(1, Math.min(2, availableParallelism()));
  const outcomes: Outcome[] = [];
  let next = 0;
  async function lane(): Promise<void> {
    let worker = new Worker(workerFile);
    try {
      while (next < variants.length) {
        const id = next++;
        const variant = variants[id] as Variant;
        const task: FuzzTask = { id, args: variant.args, cwd: variant.cwd };
        const answer = await new Promise<FuzzAnswer | undefined>((resolve) => {
          const timer = setTimeout(() => {
            resolve(undefined);
          }, RUN_LIMIT_MS);
          const done = (a: FuzzAnswer | undefined) => {
            clearTimeout(timer);
            worker.off('message', onMessage);
            worker.off('error', onError);
            resolve(a);
          };
          const onMessage = (a: FuzzAnswer) => {
            if (a.id === id) done(a);
          };
          const onError = (error: Error) => {
            done({
              id,
              code: -1,
              stdout: '',
              stderr: `worker error: ${error.stack ?? error.message}`,
              ms: 0,
            });
          };
          worker.on('message', onMessage);
          worker.on('error', onError);
          worker.postMessage(task);
        });
        if (answer && answer.code !== -1) {
          outcomes.push({ ...variant, ...answer, timedOut: false });
          continue;
        }
        outcomes.push({
          ...variant,
          code: -1,
          stdout: '',
          stderr: answer?.stderr ?? '',
          ms: RUN_LIMIT_MS,
          timedOut: answer === undefined,
        });
        // A worker stuck in a blocking call (a FIFO's open) may never finish terminating: do not
        // wait for it, and let it not hold the process open.
        worker.unref();
        void worker.terminate();
        worker = new Worker(workerFile);
      }
    } finally {
      worker.unref();
      await Promise.race([worker.terminate(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    }
  }
  await Promise.all(Array.from({ length: size }, lane));
  return outcomes;
}

/** What makes an outcome a finding; undefined when bulkhead answered properly. */
function finding(o: Outcome): string | undefined {
  if (o.timedOut) return `no answer within ${RUN_LIMIT_MS} ms`;
  if (![0, 1, 2].includes(o.code)) return `exit code ${o.code}: ${o.stderr.slice(0, 400)}`;
  const printed = o.stdout + o.stderr;
  if (printed.includes('internal error')) return firstLines(o.stderr);
  if (/\n\s+at .+(:\d+:\d+\)?|\(native\))$/m.test(printed)) return `a stack trace: ${firstLines(printed)}`;
  if (o.code === 2 && !/^error: /m.test(o.stderr))
    return `exit 2 without an error sentence: ${firstLines(printed)}`;
  return undefined;
}

function firstLines(text: string): string {
  return text.split('\n').slice(0, 3).join(' | ').slice(0, 400);
}

/**
 * Files that are not what an input file should be, each named `*.yaml`: a FIFO (opening it for
 * reading blocks until a writer comes), a folder, a symbolic link loop, a missing file, NUL
 * bytes, Latin-1 text, a sparse file past the size limit, a folder holding a folder named
 * `*.yaml`, and /dev/zero (endless).
 */
async function oddFiles(at: string): Promise<string[]> {
  await mkdir(at);
  const out: string[] = [];
  const fifo = path.join(at, 'fifo.yaml');
  try {
    execFileSync('mkfifo', [fifo]);
    out.push(fifo);
  } catch {
    // No mkfifo on this machine: the other odd files still run.
  }
  await mkdir(path.join(at, 'folder.yaml'));
  await symlink('loop.yaml', path.join(at, 'loop.yaml'));
  await writeFile(path.join(at, 'nul.yaml'), Buffer.from('apiVersion: v1\nkind: \u0000ConfigMap\n'));
  await writeFile(
    path.join(at, 'latin1.yaml'),
    Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: caf\xe9 }\n', 'latin1'),
  );
  await writeFile(path.join(at, 'big.yaml'), '');
  await truncate(path.join(at, 'big.yaml'), 11 * 1024 * 1024);
  await mkdir(path.join(at, 'nested', 'inner.yaml'), { recursive: true });
  out.push(
    path.join(at, 'folder.yaml'),
    path.join(at, 'loop.yaml'),
    path.join(at, 'missing.yaml'),
    path.join(at, 'nul.yaml'),
    path.join(at, 'latin1.yaml'),
    path.join(at, 'big.yaml'),
    path.join(at, 'nested'),
  );
  if (existsSync('/dev/zero')) out.push('/dev/zero');
  return out;
}

describe('fuzz: mutated scenarios and manifests through validate, plan and lint', function () {
  this.timeout(600_000);
  let dir: string;

  let specials: string[];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-fuzz-'));
    specials = await oddFiles(path.join(dir, 'odd'));
  });
  after(async () => {
    if (process.env.BULKHEAD_FUZZ_KEEP) console.log(`fuzz variants kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  });

  it(`answers ${SCENARIO_VARIANTS} scenario and ${MANIFEST_VARIANTS} manifest variants with 0, 1 or 2 and a sentence, in time`, async () => {
    const r = prng(SEED);
    const scenario = await readFile(path.join(repoRoot, 'scenarios/hard-isolation.yaml'), 'utf8');
    const articleDir = path.join(repoRoot, 'test/policies/fixtures/article');
    const article = (
      await Promise.all(
        (await readdir(articleDir)).sort().map((f) => readFile(path.join(articleDir, f), 'utf8')),
      )
    ).join('\n---\n');
    const withFile = scenario.replace(
      '    - builtin: hard-isolation',
      '    - builtin: hard-isolation\n    - file: policies.yaml',
    );

    const variants: Variant[] = [];
    for (let i = 0; i < SCENARIO_VARIANTS; i++) {
      const cwd = path.join(dir, `s${i}`);
      await mkdir(cwd);
      await writeFile(path.join(cwd, 'scenario.yaml'), toBytes(mutate(scenario, r, specials)));
      variants.push({ name: `s${i} validate`, args: ['validate', '-f', 'scenario.yaml', '--list'], cwd });
      variants.push({ name: `s${i} plan`, args: ['plan', '-f', 'scenario.yaml'], cwd });
    }
    for (let i = 0; i < MANIFEST_VARIANTS; i++) {
      const cwd = path.join(dir, `m${i}`);
      await mkdir(cwd);
      await writeFile(path.join(cwd, 'policies.yaml'), toBytes(mutate(article, r)));
      await writeFile(path.join(cwd, 'scenario.yaml'), withFile);
      variants.push({ name: `m${i} lint`, args: ['lint', 'policies.yaml'], cwd });
      variants.push({ name: `m${i} plan`, args: ['plan', '-f', 'scenario.yaml'], cwd });
    }

    // Each odd file given directly to each command that reads files.
    for (const [k, odd] of specials.entries()) {
      const cwd = path.join(dir, 'odd');
      variants.push(
        { name: `o${k} validate`, args: ['validate', '-f', odd], cwd },
        { name: `o${k} lint`, args: ['lint', odd], cwd },
        { name: `o${k} diff`, args: ['diff', odd, odd], cwd },
        { name: `o${k} verify-bundle`, args: ['verify-bundle', odd], cwd },
      );
    }

    const started = performance.now();
    const outcomes = await runAll(variants);
    const seconds = (performance.now() - started) / 1000;
    const findings = outcomes.flatMap((o) => {
      const f = finding(o);
      return f ? [`${o.name} (${path.relative(dir, o.cwd)}): ${f}`] : [];
    });
    const codes = new Map<number, number>();
    for (const o of outcomes) codes.set(o.code, (codes.get(o.code) ?? 0) + 1);
    if (process.env.BULKHEAD_FUZZ_REPORT) {
      console.log(
        `fuzz: ${outcomes.length} runs in ${seconds.toFixed(1)} s; exit codes ${JSON.stringify([...codes])}; slowest ${Math.max(...outcomes.map((o) => o.ms)).toFixed(0)} ms`,
      );
      for (const f of findings) console.log(`  ${f}`);
      if (process.env.BULKHEAD_FUZZ_REPORT === 'all')
        for (const o of outcomes) console.log(`  = ${o.name} ${o.code} ${firstLines(o.stderr)}`);
    }
    expect(outcomes).to.have.length(variants.length);
    expect(findings, findings.join('\n')).to.deep.equal([]);
    // The mutations must still reach past the parser: some variants valid, some refused.
    expect(codes.get(0) ?? 0).to.be.greaterThan(20);
    expect(codes.get(2) ?? 0).to.be.greaterThan(20);
  });
});
