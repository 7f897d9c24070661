/**
 * The package as a user gets it: `npm pack`, installed into a fresh project under the system's
 * temporary folder, then used there without the checkout: both entry points imported from plain
 * Node (no tsx), a TypeScript file importing them type-checked with tsc, the installed bin run
 * for the offline commands, and `bulkhead run --suite` with the user's TypeScript specs (one
 * importing `bulkhead/suite`, one written against 0.1.0's `bulkhead`) on a fake cluster.
 *
 * The install resolves bulkhead's dependencies from the npm cache (`--prefer-offline`: what
 * `npm ci` left there, the registry only for what is missing). dist/ is packed as it is when it
 * is current, and built first when it is not, the way bin/bulkhead.js decides.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { buildIsCurrent } from '../../bin/build-state.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { putReadyCluster } from '../support/existing-cluster.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD, repoRoot } from '../support/scenarios.js';

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 64 * 2 ** 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** npm as the test's own Node runs it: npm_execpath under `npm test` or npx, else npm on PATH. */
function npm(args: readonly string[], cwd: string): Promise<Ran> {
  const cli = process.env.npm_execpath;
  return cli && /npm-cli\.js$/.test(cli) ? run(process.execPath, [cli, ...args], cwd) : run('npm', args, cwd);
}

function node(args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<Ran> {
  return run(process.execPath, args, cwd, env);
}

/** Records, at exit, every module the process resolved (for "no tsx at run time"). */
const HOOK = `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const urls = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    urls.add(resolved.url);
    return resolved;
  },
});
process.on('exit', () => writeFileSync(process.env.BULKHEAD_LOADS_FILE, JSON.stringify([...urls])));
`;

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      probes: false
      workloads: [{ name: client }]
  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

describe('package: npm pack, installed into a project', function () {
  this.timeout(300_000);
  let dir = '';
  let project: string;
  let files: string[];
  const installed = () => path.join(project, 'node_modules', 'bulkhead');
  const bin = () => path.join(installed(), 'bin', 'bulkhead.js');

  before(async function () {
    this.timeout(600_000);
    if (!buildIsCurrent(repoRoot)) {
      const built = await npm(['run', 'build'], repoRoot);
      expect(
        built.code,
        `dist/ is older than the sources and npm run build failed:\n${built.stdout}${built.stderr}`,
      ).to.equal(0);
    }
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-pack-'));
    // Scripts ran already: dist/ is current. Packing must not rebuild the tree other tests use.
    const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], repoRoot);
    expect(packed.code, packed.stderr).to.equal(0);
    const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    files = info.files.map((f) => f.path);
    project = path.join(dir, 'project');
    await mkdir(project);
    await writeFile(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    const install = await npm(
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--loglevel=error',
        path.join(dir, info.filename),
      ],
      project,
    );
    expect(install.code, install.stdout + install.stderr).to.equal(0);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ships the compiled build with its types, the agent bundle and the data files, and no TypeScript sources', () => {
    for (const f of [
      'bin/bulkhead.js',
      'dist/harness/index.js',
      'dist/harness/index.d.ts',
      'dist/harness/suite.js',
      'dist/harness/suite.d.ts',
      'dist/harness/cli/main.js',
      'dist/suites/run-suites.js',
      'dist/agent/bulkhead-agent.mjs',
      'harness/policies/data/article-manifests.yaml',
      'harness/results/schemas/results.v1.schema.json',
      'scenarios/hard-isolation.yaml',
      'LICENSE',
    ])
      expect(files).to.include(f);
    expect(files.some((f) => f.startsWith('harness/policies/schemas/calico/'))).to.equal(true);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).to.deep.equal([]);
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('node_modules/'))).to.deep.equal([]);
  });

  it("imports 'bulkhead' from plain Node with no side effects, and 'bulkhead/suite' with chai's plugin", async () => {
    await writeFile(
      path.join(project, 'root.mjs'),
      `const names = () => [...Object.getOwnPropertyNames(globalThis), ...Object.getOwnPropertySymbols(globalThis).map(String)];
const before = new Set(names());
const chai = await import('chai');
const lib = await import('bulkhead');
const added = names().filter((n) => !before.has(n));
const pluginOnImport = 'deniedAt' in chai.Assertion.prototype;
const scenario = await lib.loadScenarioFile('node_modules/bulkhead/scenarios/hard-isolation.yaml');
const planned = lib.planAttempts({ ...scenario, manifests: lib.renderPolicySources(scenario) }, scenario.attempts);
lib.expect(1).to.equal(1);
const pluginOnExpect = 'deniedAt' in chai.Assertion.prototype;
console.log(JSON.stringify({ added, pluginOnImport, pluginOnExpect, exports: Object.keys(lib), attempts: scenario.attempts.length, planned: planned.length }));
`,
    );
    const root = await node(['root.mjs'], project);
    expect(root.code, root.stderr).to.equal(0);
    const r = JSON.parse(root.stdout) as {
      added: string[];
      pluginOnImport: boolean;
      pluginOnExpect: boolean;
      exports: string[];
      attempts: number;
      planned: number;
    };
    // zod keeps its registry on globalThis; bulkhead adds nothing of its own.
    expect(r.added.filter((n) => !n.startsWith('__zod_'))).to.deep.equal([]);
    expect(r.pluginOnImport, 'importing bulkhead installed the chai plugin').to.equal(false);
    // The 0.1.0 `expect` still works, installing the plugin when first used.
    expect(r.pluginOnExpect).to.equal(true);
    expect(r.exports).to.include.members([
      'readResultsFile',
      'ResultsDocumentSchema',
      'readResultsRecords',
      'diffResults',
      'verifyBundle',
      'readManifestPaths',
      'renderPolicySources',
      'PolicyModel',
      'planAttempts',
      'loadScenarioFile',
      'OUTCOMES',
      'CATEGORIES',
      'VERSION',
    ]);
    expect(r.attempts).to.be.greaterThan(100);
    expect(r.planned).to.equal(r.attempts);

    await writeFile(
      path.join(project, 'suite.mjs'),
      `const chai = await import('chai');
const suite = await import('bulkhead/suite');
console.log(JSON.stringify({ plugin: 'deniedAt' in chai.Assertion.prototype, exports: Object.keys(suite).sort() }));
`,
    );
    const suite = await node(['suite.mjs'], project);
    expect(suite.code, suite.stderr).to.equal(0);
    expect(JSON.parse(suite.stdout)).to.deep.equal({
      plugin: true,
      exports: ['CATEGORY_TITLES', 'HarnessFault', 'RunUnderTest', 'bulkheadChai', 'currentRun', 'expect'],
    });
  });

  it('type-checks a TypeScript file importing both entry points against the shipped declarations', async () => {
    await writeFile(
      path.join(project, 'consumer.ts'),
      `import {
  CATEGORIES,
  diffResults,
  loadScenarioFile,
  OUTCOMES,
  planAttempts,
  readResultsFile,
  renderPolicySources,
  verifyBundle,
  type Outcome,
  type PredictedOutcome,
  type ResultsDocument,
} from 'bulkhead';
import { CATEGORY_TITLES, currentRun, expect, type DenyLayer } from 'bulkhead/suite';

export async function predict(file: string): Promise<PredictedOutcome[]> {
  const scenario = await loadScenarioFile(file);
  const manifests = renderPolicySources(scenario);
  return planAttempts({ ...scenario, manifests }, scenario.attempts).map((p) => p.predicted.outcome);
}
export async function changes(before: string, after: string): Promise<number> {
  const old: ResultsDocument = await readResultsFile(before);
  return diffResults(old, await readResultsFile(after)).changes.length;
}
export const titles: string[] = CATEGORIES.map((c) => CATEGORY_TITLES[c]);
export const outcomes: readonly Outcome[] = OUTCOMES;
export const verify: (file: string) => Promise<{ problems: readonly string[] }> = verifyBundle;
const layer: DenyLayer = 'l7';
describe('payments stay private', () => {
  it('globex cannot reach acme', () => {
    expect(currentRun().attempt('globex-to-acme')).to.be.deniedAt(layer);
    // The declarations are real: a wrong layer and a wrong outcome do not type-check.
    // @ts-expect-error 'l9' is not a layer
    expect(currentRun().attempt('globex-to-acme')).to.be.deniedAt('l9');
  });
});
// @ts-expect-error 'maybe' is not an outcome
export const wrong: Outcome = 'maybe';
`,
    );
    await writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          // Other packages' declarations are theirs to check; bulkhead's must resolve (above).
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [
            path.join(project, 'node_modules', '@types'),
            path.join(repoRoot, 'node_modules', '@types'),
          ],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await node([tsc, '-p', 'tsconfig.json'], project);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
  });

  it('runs the installed bin from the compiled build, without tsx: --version, validate, plan, lint', async () => {
    const loads = path.join(dir, 'loads.json');
    const hook = path.join(dir, 'record-loads.mjs');
    await writeFile(hook, HOOK);
    const version = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    const shipped = 'node_modules/bulkhead/scenarios/hard-isolation.yaml';
    for (const [args, codes] of [
      [['--version'], [0]],
      [['validate', '-f', shipped], [0]],
      [
        ['plan', '-f', shipped],
        [0, 1],
      ],
      [
        ['lint', '-f', shipped],
        [0, 1],
      ],
    ] as const) {
      const r = await node(['--import', hook, bin(), ...args], project, { BULKHEAD_LOADS_FILE: loads });
      expect(codes, `bulkhead ${args.join(' ')}: ${r.stderr}`).to.include(r.code);
      expect(r.stderr).to.not.contain('internal error');
      if (args[0] === '--version') expect(r.stdout).to.equal(`${version.version}\n`);
      const urls = JSON.parse(await readFile(loads, 'utf8')) as string[];
      expect(urls.filter((u) => u.includes('/node_modules/tsx/'))).to.deep.equal([]);
      expect(urls.some((u) => u.endsWith('/node_modules/bulkhead/dist/harness/cli/main.js'))).to.equal(true);
    }
    // The bin on PATH in the project, as `npx bulkhead` finds it.
    const npx = await run(path.join(project, 'node_modules', '.bin', 'bulkhead'), ['--version'], project);
    expect(npx.stdout).to.equal(`${version.version}\n`);
  });

  it("runs the user's TypeScript --suite files, importing bulkhead/suite or 0.1.0's bulkhead, on a fake cluster", async () => {
    const app = await scriptedServer(['app']);
    const unrouted = await closedPort();
    const server = await new FakeApiServer({
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: unrouted,
        route: (source, host) =>
          source.namespace === 'tenant-acme' && host.startsWith('api.') ? app.port : undefined,
      }),
    }).start();
    try {
      putReadyCluster(server);
      await writeFile(path.join(project, 'kubeconfig'), server.kubeConfig().exportConfig());
      await writeFile(path.join(project, 'scenario.yaml'), SCENARIO);
      await writeFile(
        path.join(project, 'mine.spec.ts'),
        `import { currentRun, expect, type DenyLayer } from 'bulkhead/suite';
const l7: DenyLayer = 'l7';
describe('mine', () => {
  it('acme reaches its api', () => { expect(currentRun().attempt('acme-to-acme')).to.be.allowed(); });
  it('globex is denied at l7', () => { expect(currentRun().attempt('globex-to-acme')).to.be.deniedAt(l7); });
});
`,
      );
      await writeFile(
        path.join(project, 'old.spec.ts'),
        `import { currentRun, expect } from 'bulkhead';
describe('old', () => {
  it('globex is denied', () => { expect(currentRun().attempt('globex-to-acme')).to.be.denied(); });
});
`,
      );
      const r = await node(
        [
          bin(),
          'run',
          '-f',
          'scenario.yaml',
          '--provider',
          'existing',
          '--kubeconfig',
          'kubeconfig',
          '--settle',
          '0',
          '--round-interval',
          '0',
          '--run-id',
          'r1',
          '--suite',
          'mine.spec.ts',
          'old.spec.ts',
        ],
        project,
      );
      // Every expectation of the scenario held, but mine.spec.ts expected an L7 deny where the
      // network refused: the run fails on the suite, and only there.
      expect(r.code, r.stdout + r.stderr).to.equal(1);
      const junitFile = (await readdir(path.join(project, 'reports'), { recursive: true }))
        .map(String)
        .find((f) => f.endsWith('junit.xml'));
      expect(junitFile, r.stdout).to.not.equal(undefined);
      const junit = await readFile(path.join(project, 'reports', junitFile ?? ''), 'utf8');
      for (const title of ['acme reaches its api', 'globex is denied at l7', 'globex is denied'])
        expect(junit).to.contain(title);
      expect(junit.match(/<failure/g)?.length, junit).to.equal(1);
      expect(junit).to.match(/globex is denied at l7"[^>]*>\s*<failure/);
    } finally {
      await server.stop();
      await app.close();
    }
  });
});
