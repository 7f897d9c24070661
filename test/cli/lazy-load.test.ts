/**
 * The command line loads what a command needs when it runs, not when it is defined: `--version`,
 * `--help` and the offline commands must not load the Kubernetes client, testcontainers, esbuild,
 * undici or execa. Each case runs the real bin/bulkhead.js in a child process with a module hook
 * (module.registerHooks, which sees `import` and `require` alike) that records every module
 * resolved and who asked for it. A command file that imports one of these packages at top level,
 * directly or through another module, fails here with the chain of imports that did it.
 *
 * bin/bulkhead.js runs dist/ when it is current and the TypeScript sources through tsx when not
 * (an edit not built yet), so this checks whichever would run; tsx's own use of esbuild is not
 * bulkhead's and is left out.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { repoRoot } from '../support/scenarios.js';

const HEAVY = [
  '@kubernetes/client-node',
  'testcontainers',
  '@testcontainers/k3s',
  'esbuild',
  'undici',
  'execa',
] as const;

const SCENARIO = 'scenarios/hard-isolation.yaml';

const CASES: readonly (readonly string[])[] = [
  ['--version'],
  ['--help'],
  ['validate', '-f', SCENARIO],
  ['validate', '-f', SCENARIO, '--list', '-o', 'json'],
  ['schema'],
  ['plan', '-f', SCENARIO],
  ['lint', '-f', SCENARIO],
  ['run', '-f', SCENARIO, '--istio-matrix', '1.29.6,1.30.3', '--matrix-format', 'gitlab'],
  [
    'upgrade-check',
    '-f',
    SCENARIO,
    '--matrix',
    '1.29.6:1.30.3',
    '--kubernetes',
    '1.34.0',
    '--matrix-format',
    'github',
  ],
  ['matrix-report', 'docs/samples'],
];

/** Writes, at exit, each resolved module URL with the URL of the module that imported it. */
const HOOK = `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const parents = {};
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    if (!(resolved.url in parents)) parents[resolved.url] = context.parentURL ?? null;
    return resolved;
  },
});
process.on('exit', () => writeFileSync(process.env.BULKHEAD_LOADS_FILE, JSON.stringify(parents)));
`;

function packageOf(url: string): string | undefined {
  return /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
}

/** The heavy packages the run loaded, each with the chain of imports that reached it first. */
function heavyLoads(parents: Readonly<Record<string, string | null>>): Map<string, string> {
  const found = new Map<string, string>();
  for (const url of Object.keys(parents)) {
    const pkg = packageOf(url);
    if (pkg === undefined || !(HEAVY as readonly string[]).includes(pkg) || found.has(pkg)) continue;
    const chain = [url];
    for (let p = parents[url]; p; p = parents[p]) chain.unshift(p);
    // tsx compiles the sources with esbuild when dist/ is stale: its load, not bulkhead's. A
    // package that another heavy one loaded is that one's doing: one chain per culprit.
    const via = chain.slice(0, -1).map(packageOf);
    if (via.includes('tsx') || via.some((p) => p !== pkg && (HEAVY as readonly string[]).includes(p ?? '')))
      continue;
    found.set(pkg, chain.map((u) => u.replace(`file://${repoRoot}`, '')).join('\n  > '));
  }
  return found;
}

describe('cli: commands load lazily', function () {
  this.timeout(60_000);
  let dir: string;
  let hook: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-lazy-'));
    hook = path.join(dir, 'record-loads.mjs');
    await writeFile(hook, HOOK);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs bin/bulkhead.js with the hook; the exit code, stderr and the heavy packages it loaded. */
  async function loadsOf(
    args: readonly string[],
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ code: number; stderr: string; heavy: Map<string, string> }> {
    const loads = path.join(dir, 'loads.json');
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', hook, path.join(repoRoot, 'bin', 'bulkhead.js'), ...args],
        {
          cwd: repoRoot,
          env: { ...process.env, ...env, BULKHEAD_LOADS_FILE: loads, NO_COLOR: '1' },
          maxBuffer: 64 * 2 ** 20,
        },
        (error, _stdout, err) => {
          resolve({ code: error ? Number(error.code) : 0, stderr: err });
        },
      );
    });
    const parents = JSON.parse(await readFile(loads, 'utf8')) as Record<string, string | null>;
    expect(Object.keys(parents).some((u) => u.includes('/harness/cli/main.'))).to.equal(true);
    return { code, stderr, heavy: heavyLoads(parents) };
  }

  for (const args of CASES) {
    it(`bulkhead ${args.join(' ')} loads none of ${HEAVY.join(', ')}`, async () => {
      const { code, stderr, heavy } = await loadsOf(args);
      // plan and lint exit 1 when the shipped scenario's policies disagree or have findings.
      expect(code, stderr).to.be.oneOf([0, 1]);
      expect(
        [...heavy].map(([pkg, chain]) => `${pkg}, imported through\n  ${chain}`),
        'a command file imports a heavy package at top level; import it in the action instead',
      ).to.deep.equal([]);
    });
  }

  it('bulkhead run on an existing cluster does not load testcontainers (the k3s provider alone needs it)', async () => {
    // testcontainers' file lock installs a process-wide SIGINT handler as it loads.
    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: ""\n',
    );
    const { code, stderr, heavy } = await loadsOf(
      ['run', '-f', SCENARIO, '--provider', 'existing', '--context', 'nowhere'],
      { KUBECONFIG: kubeconfig },
    );
    expect(code, stderr).to.equal(2);
    expect(stderr).to.match(/nowhere/);
    expect(heavy.has('@kubernetes/client-node'), 'the run reached the cluster step').to.equal(true);
    expect([...heavy.keys()].filter((p) => p.includes('testcontainers'))).to.deep.equal([]);
  });
});
