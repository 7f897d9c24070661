/**
 * The scenario's stated limits (README "Input limits"): the attempt cap, counted before any
 * attempt is built; the refusal of a scenario that expands to no attempts; bounded problem lists
 * and bounded work for inputs with many repeated mistakes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { parse } from 'yaml';

import { InputError } from '../../harness/errors.js';
import { generatedCount, MAX_ATTEMPTS, type GeneratorContext } from '../../harness/scenario/generators.js';
import { scenarioJsonSchema } from '../../harness/scenario/json-schema.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { ScenarioSchema } from '../../harness/scenario/schema.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { runCli } from '../support/cli.js';
import { HEAD, load, problemsOf } from '../support/scenarios.js';

/** mulberry32, as in the fuzz test: the same topologies on every machine. */
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

/** A topology with tenants of several namespaces, shared services, UDP and named ports, mixed sidecars. */
function topology(r: () => number): string {
  const int = (n: number) => Math.floor(r() * n);
  const lines: string[] = [HEAD, '  tenants:'];
  const tenants = 1 + int(4);
  for (let t = 0; t < tenants; t++) {
    lines.push(
      `    - name: t${t}`,
      `      injection: ${r() < 0.7}`,
      `      probes: ${r() < 0.8}`,
      '      workloads:',
    );
    const workloads = int(4);
    if (workloads === 0) lines.push('        []');
    for (let w = 0; w < workloads; w++) {
      const ports = Array.from({ length: int(3) }, (_, p) =>
        r() < 0.3
          ? `{ port: ${5000 + p}, protocol: UDP${r() < 0.5 ? `, name: u${p}` : ''} }`
          : `{ port: ${8000 + p}${r() < 0.5 ? `, name: h${p}` : ''} }`,
      );
      lines.push(`        - { name: w${w}, sidecar: ${r() < 0.6}, ports: [${ports.join(', ')}] }`);
    }
  }
  lines.push('  namespaces:');
  const extra = int(4);
  if (extra === 0) lines.push('    []');
  for (let n = 0; n < extra; n++) {
    // A second namespace of an existing tenant, or a shared one.
    const tenant = r() < 0.5 ? `, tenant: t${int(tenants)}` : '';
    lines.push(`    - { name: ns${n}, injection: ${r() < 0.5}${tenant} }`);
  }
  lines.push('  workloads:');
  const more = int(5);
  if (more === 0) lines.push('    []');
  for (let w = 0; w < more; w++) {
    const ns = extra > 0 && r() < 0.7 ? `ns${int(extra)}` : `tenant-t${int(tenants)}`;
    const ports = r() < 0.2 ? '[]' : `[${8080 + w}, { port: ${9000 + w}, name: m${w} }]`;
    lines.push(`    - { name: x${w}, namespace: ${ns}, sidecar: ${r() < 0.5}, ports: ${ports} }`);
  }
  const to = () => ['shared', 'same-tenant', 'all'][int(3)] ?? 'all';
  const from = () => (r() < 0.3 ? ', from: all' : '');
  lines.push(
    '  generators:',
    `    - { kind: cross-tenant${from()}, as: ${r() < 0.5 ? 'http' : 'tcp'} }`,
    `    - { kind: intra-tenant${from()} }`,
    `    - { kind: shared-services${from()} }`,
    `    - { kind: header-spoof${from()}, to: ${to()} }`,
    `    - { kind: plaintext${from()}, to: ${to()} }`,
    `    - { kind: dns-recon${from()}, types: ${r() < 0.5 ? '[A, SRV]' : '[SRV]'}, controls: ${r() < 0.5} }`,
    '    - kind: api-token',
    ...(r() < 0.3 ? ['      from: all'] : []),
    '      requests:',
    '        - { verb: list, resource: secrets, namespace: "{victimNamespace}" }',
    '        - { verb: get, resource: pods, namespace: "{sourceNamespace}" }',
    '        - { verb: list, resource: namespaces }',
  );
  return lines.join('\n') + '\n';
}

function contextOf(s: Scenario): GeneratorContext {
  return {
    namespaces: s.namespaces,
    workloads: s.workloads,
    meshRootNamespace: s.meshRootNamespace,
    trustDomain: s.trustDomain,
    clusterDomain: s.clusterDomain,
    defaultTimeoutMs: s.defaults.timeoutMs,
    origin: () => ({ file: s.file, line: 0, column: 0, path: '' }),
    problem: () => undefined,
    warn: () => undefined,
  };
}

/** `n` tenants sharing one list of four workloads through an alias, and the shipped generators. */
function manyTenants(n: number, generators = '    - kind: cross-tenant\n    - kind: api-token\n'): string {
  const tenants = Array.from({ length: n }, (_, i) =>
    i === 0
      ? `    - name: t0\n      workloads: &w\n${['a', 'b', 'c', 'd'].map((w) => `        - { name: ${w}, ports: [8080] }`).join('\n')}`
      : `    - name: t${i}\n      workloads: *w`,
  );
  return `${HEAD}  tenants:\n${tenants.join('\n')}\n  generators:\n${generators}`;
}

describe('scenario limits', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-limits-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('counts what each generator makes without building it, exactly', async () => {
    const r = prng(7);
    let compared = 0;
    for (let i = 0; i < 60; i++) {
      const text = topology(r);
      const scenario = await load(text);
      const raw = ScenarioSchema.parse(parse(text)).spec.generators;
      const ctx = contextOf(scenario);
      raw.forEach((gen, k) => {
        expect(generatedCount(gen, ctx), `${gen.kind} in topology ${i}`).to.equal(
          scenario.generators[k]?.count,
        );
        compared += generatedCount(gen, ctx);
      });
    }
    // The topologies are not all empty: the comparison covered real expansions.
    expect(compared).to.be.greaterThan(1000);
  });

  it(`refuses a scenario past ${MAX_ATTEMPTS.toLocaleString('en-US')} attempts before expanding it, saying how many and how to reduce them`, async () => {
    const started = performance.now();
    // 2,000 tenants: 64 million cross-tenant attempts; building them would take minutes and gigabytes.
    const problems = await problemsOf(manyTenants(2_000));
    expect(performance.now() - started).to.be.below(10_000);
    expect(problems).to.have.length(1);
    const [p] = problems;
    expect(p?.path).to.equal('spec.generators[0]');
    expect(p?.line).to.be.greaterThan(2_000);
    const cross = 2_000 * 2 * 1_999 * 4;
    // The default requests: secrets and pods in each other tenant's namespace, and namespaces.
    const api = 2_000 * 2 * (2 * 1_999 + 1);
    expect(p?.message).to.equal(
      `the scenario would expand to ${(cross + api).toLocaleString('en-US')} attempts (cross-tenant ${cross.toLocaleString('en-US')}, api-token ${api.toLocaleString('en-US')}); bulkhead makes at most 20,000 per scenario: narrow the generators to fewer sources with 'from', drop generators, leave attempts out with 'exclude', or split the tenants over several scenarios`,
    );
  });

  it('allows exactly the cap, counting explicit attempts and excludes', async () => {
    // api-token: one attempt per source (two probes) per request.
    const requests = (n: number) =>
      Array.from({ length: n }, (_, i) => `        - { verb: list, resource: r${i} }`).join('\n');
    const head = `${HEAD}  tenants: [{ name: a }]\n  generators:\n    - kind: api-token\n      requests:\n`;
    const atCap = await load(`${head}${requests(MAX_ATTEMPTS / 2)}\n`);
    expect(atCap.attempts).to.have.length(MAX_ATTEMPTS);

    const explicit =
      '  attempts:\n    - { id: one-more, kind: dns, from: tenant-a/probe, query: { name: x.example, type: A } }\n';
    const over = await problemsOf(`${head}${requests(MAX_ATTEMPTS / 2)}\n${explicit}`);
    expect(over[0]?.message).to.match(
      /^the scenario would expand to 20,001 attempts \(api-token 20,000, explicit 1\)/,
    );

    const excluded = `      exclude: ['api-token:tenant-a/probe:list-r0', 'api-token:tenant-a/probe:list-r1']\n`;
    const back = await load(`${head}${requests(MAX_ATTEMPTS / 2 + 1)}\n${excluded}`);
    expect(back.attempts).to.have.length(MAX_ATTEMPTS);
  });

  it('refuses a scenario file that expands to no attempts, in validate, plan and lint', async () => {
    const file = path.join(dir, 'empty.yaml');
    await writeFile(file, `${HEAD}  tenants: [{ name: a }, { name: b }]\n`);
    try {
      await loadScenarioFile(file);
      expect.fail('loaded');
    } catch (error) {
      expect(error).to.be.instanceOf(InputError);
      expect((error as InputError).problems[0]?.message).to.equal(
        'the scenario expands to no attempts (it has no attempts and no generators), so a run would test nothing; add attempts, or a generator such as { kind: cross-tenant } with tenants that have workloads with ports',
      );
    }
    for (const command of [['validate'], ['plan'], ['lint']]) {
      const r = await runCli([...command, '-f', file]);
      expect(r.code, command[0]).to.equal(2);
      expect(r.stderr).to.match(/^error: .*empty\.yaml:5:3: spec: the scenario expands to no attempts/);
      expect(r.stdout).to.not.match(/PASS|valid|agree/);
    }
    // A generator that finds nothing to do says so.
    const none = path.join(dir, 'none.yaml');
    await writeFile(
      none,
      `${HEAD}  tenants: [{ name: a }, { name: b }]\n  generators: [{ kind: cross-tenant }]\n`,
    );
    const r = await runCli(['validate', '-f', none]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('(its generator produces none for this topology)');
  });

  it('states the cap in the scenario JSON Schema as the loader enforces it', () => {
    const text = JSON.stringify(scenarioJsonSchema());
    expect(text).to.contain(
      `at most ${MAX_ATTEMPTS.toLocaleString('en-US')} attempts, explicit and generated together`,
    );
  });

  it('reports the first 200 problems and counts the rest', async () => {
    const workloads = Array.from(
      { length: 1_000 },
      (_, i) => `    - { name: w${i}, namespace: nowhere, bogus: 1 }`,
    );
    const problems = await problemsOf(`${HEAD}  workloads:\n${workloads.join('\n')}\n`);
    expect(problems).to.have.length(201);
    expect(problems[200]?.message).to.equal('800 more problems not shown; fix these first');
  });

  it('stays fast on thousands of repeated mistakes and duplicate ports', async () => {
    const started = performance.now();
    const ports = Array.from({ length: 20_000 }, (_, i) => 1 + (i % 5_000)).join(', ');
    const attempts = Array.from(
      { length: 3_000 },
      (_, i) => `    - { id: a${i}, kind: tcp, from: tenant-a/probe${i}, to: tenant-a/w, port: 1 }`,
    );
    const problems = await problemsOf(
      `${HEAD}  tenants:\n    - name: a\n      workloads: [{ name: w, ports: [${ports}] }]\n  attempts:\n${attempts.join('\n')}\n`,
    );
    expect(performance.now() - started).to.be.below(10_000);
    expect(problems[0]?.message).to.equal('duplicates port 1/TCP');
    expect(problems.at(-1)?.message).to.match(/^\d+ more problems not shown/);
  });
});
