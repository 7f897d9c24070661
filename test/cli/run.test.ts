import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { x as extract } from 'tar';

import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { runCli, runExisting as runExistingIn } from '../support/cli.js';
import { canaryDataplane } from '../support/canary.js';
import { putReadyCluster } from '../support/existing-cluster.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD, repoRoot } from '../support/scenarios.js';

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

describe('cli: bulkhead run --provider existing', function () {
  this.timeout(30_000);
  let dir: string;
  let server: FakeApiServer;
  let app: Awaited<ReturnType<typeof scriptedServer>>;
  let kubeconfig: string;
  const runExisting = (...extra: string[]) => runExistingIn(dir, ...extra);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-cli-run-'));
    app = await scriptedServer(['app']);
    const unrouted = await closedPort();
    server = await new FakeApiServer({
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: unrouted,
        // The "network" lets acme reach its api; globex's attempt goes to a closed port (refused).
        // The network canary answers until its deny policy is applied, as Calico would.
        route: (source, host, port) =>
          canaryDataplane(server, app.port, (s, h) =>
            s.namespace === 'tenant-acme' && h.startsWith('api.') ? app.port : undefined,
          ).route(source, host, port),
      }),
    }).start();
    // Calico (with its API server) and istiod, which run --provider existing checks for first.
    putReadyCluster(server);
    kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfig, server.kubeConfig().exportConfig());
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
  });
  afterEach(async () => {
    await server.stop();
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the scenario, prints a table and a summary, and exits 0 when every expectation held', async () => {
    const r = await runExisting('--context', 'fake');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^RESULT\s+ATTEMPT\s+EXPECT\s+OBSERVED\s+ROUNDS\s+WHY$/m);
    expect(r.stdout).to.match(/^PASS\s+globex-to-acme\s+denied\s+refused\s+3$/m);
    expect(r.stdout).to.match(/^PASS\s+acme-to-acme\s+allowed\s+allowed\s+3$/m);
    expect(r.stdout).to.contain('2 passed, 0 failed, 0 errors\nrun r1: reports/r1/results.jsonl\n');
    // CI-style progress on stderr: timestamped phases.
    expect(r.stderr).to.match(/^\d\d:\d\d:\d\d apply fixtures \.\.\.$/m);
    expect(r.stderr).to.match(/^\d\d:\d\d:\d\d clean up: done/m);
    const lines = (await readFile(path.join(dir, 'reports', 'r1', 'results.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n');
    expect(JSON.parse(lines.at(-1) ?? '{}')).to.deep.include({ type: 'end', exitCode: 0 });
  });

  it('writes results.json, junit.xml and report.html, and with --bundle a bundle verify-bundle accepts', async () => {
    const r = await runExisting('--bundle');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(
      /^reports: .*reports\/r1\/results\.json.*junit\.xml.*report\.html.*bulkhead-r1\.tar\.gz/m,
    );
    const results = JSON.parse(await readFile(path.join(dir, 'reports', 'r1', 'results.json'), 'utf8')) as {
      v: number;
      attempts: { id: string }[];
      method: { footing?: unknown; clusterFacts?: { deadlines: { formula: string } } };
    };
    expect(results.v).to.equal(1);
    expect(results.attempts.map((a) => a.id)).to.have.members(['globex-to-acme', 'acme-to-acme']);
    // The method records the footing the run checked and what it read about the cluster.
    expect(results.method.footing).to.deep.equal({
      readBack: { fixtures: 8, policies: 0 },
      sidecars: { pods: 3, withProxy: 3 },
    });
    expect(results.method.clusterFacts?.deadlines.formula).to.be.a('string');
    const html = await readFile(path.join(dir, 'reports', 'r1', 'report.html'), 'utf8');
    expect(html).to.contain(
      '0 policies read back as applied; istio-proxy on 3 of 3 pods, as the scenario says',
    );
    expect(html).to.contain('Attempt deadlines behind a sidecar');
    const junit = await readFile(path.join(dir, 'reports', 'r1', 'junit.xml'), 'utf8');
    expect(junit).to.match(/<testcase name="globex-to-acme: /);
    const verified = await runCli(['verify-bundle', path.join('reports', 'r1', 'bulkhead-r1.tar.gz')], dir);
    expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
  });

  it('records the declared environment and the tester as given; warns when an existing cluster is not declared', async () => {
    const undeclared = await runExisting();
    expect(undeclared.code, undeclared.stderr).to.equal(0);
    expect(undeclared.stderr).to.contain(
      'warning: --provider existing without --environment: the report will say "environment not declared"; declare what the cluster is with --environment production|staging|replica\n',
    );
    const html = await readFile(path.join(dir, 'reports', 'r1', 'report.html'), 'utf8');
    expect(html).to.contain(
      '<dt>Environment</dt><dd>environment not declared (production, staging or replica: run with --environment)</dd>',
    );
    const declared = await runExisting(
      '--run-id',
      'r2',
      '--environment',
      'staging',
      '--tester',
      'Dana Auditor',
      '--organisation',
      'Example QSA Ltd',
      '--independence',
      'external assessor',
    );
    expect(declared.code, declared.stderr).to.equal(0);
    expect(declared.stderr).to.not.contain('--environment');
    const results = JSON.parse(await readFile(path.join(dir, 'reports', 'r2', 'results.json'), 'utf8')) as {
      scope: { environment: string };
      run: { tester?: unknown };
    };
    expect(results.scope.environment).to.equal('staging');
    expect(results.run.tester).to.deep.equal({
      name: 'Dana Auditor',
      organisation: 'Example QSA Ltd',
      independence: 'external assessor',
    });
    const report = await readFile(path.join(dir, 'reports', 'r2', 'report.html'), 'utf8');
    expect(report).to.contain('<dt>Tester</dt><dd>Dana Auditor</dd>');
    expect(report).to.contain('does not vouch for them');
  });

  it("with --bundle prints the bundle's SHA-256, writes it outside the run folder and to the job summary, and signs it with --sign-key", async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFile(path.join(dir, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    await writeFile(path.join(dir, 'pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }) as string);
    const summary = path.join(dir, 'step-summary.md');
    await writeFile(summary, '# earlier steps\n');
    const saved = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = summary;
    let r;
    try {
      r = await runExisting('--environment', 'replica', '--bundle', '--sign-key', 'key.pem');
    } finally {
      if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = saved;
    }
    expect(r.code, r.stderr).to.equal(0);
    const bundle = path.join('reports', 'r1', 'bulkhead-r1.tar.gz');
    const sha = /^bundle SHA-256 ([0-9a-f]{64}) {2}reports\/r1\/bulkhead-r1\.tar\.gz$/m.exec(r.stdout)?.[1];
    expect(sha, r.stdout).to.be.a('string');
    expect(r.stdout).to.contain('  recorded outside the run folder in reports/bulkhead-r1.tar.gz.sha256;');
    // sha256sum -c form, relative to the folder it is in.
    expect(await readFile(path.join(dir, 'reports', 'bulkhead-r1.tar.gz.sha256'), 'utf8')).to.equal(
      `${sha}  r1/bulkhead-r1.tar.gz\n`,
    );
    expect(await readFile(summary, 'utf8')).to.equal(
      `# earlier steps\n### bulkhead evidence bundle, run r1\n\n- bundle: \`bulkhead-r1.tar.gz\`\n- SHA-256: \`${sha}\`\n- signature: \`bulkhead-r1.tar.gz.sig\` (detached, SHA-256)\n\n`,
    );
    expect(r.stdout).to.contain(
      `  signed: ${bundle}.sig (openssl dgst -sha256 -verify pub.pem -signature ${bundle}.sig ${bundle})`,
    );
    const proven = await runCli(
      ['verify-bundle', bundle, '--sha256', sha ?? '', '--verify-key', 'pub.pem'],
      dir,
    );
    expect(proven.code, proven.stdout + proven.stderr).to.equal(0);
    expect(proven.stdout).to.contain(
      'OK: proven untampered: the archive has the SHA-256 recorded outside it',
    );
    expect(proven.stdout).to.contain('OK: proven untampered: the signature verifies');
  });

  it('refuses --sign-key without --bundle and an unreadable key before it touches the cluster (exit 2)', async () => {
    const without = await runExisting('--sign-key', 'key.pem');
    expect(without.code).to.equal(2);
    expect(without.stderr).to.contain('--sign-key concerns the evidence bundle: add --bundle');
    const missing = await runExisting('--bundle', '--sign-key', 'nokey.pem');
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('nokey.pem');
    expect(server.requests.length, 'requests to the API server').to.equal(0);
  });

  it('puts the policies into the bundle as the cluster stored them, run labels included', async () => {
    const withPolicy = SCENARIO.replace(
      '  attempts:\n',
      [
        '  policies:',
        '    - inline: |',
        '        apiVersion: networking.k8s.io/v1',
        '        kind: NetworkPolicy',
        '        metadata: { name: same-namespace-only, namespace: tenant-acme }',
        '        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{ from: [{ podSelector: {} }] }] }',
        '  attempts:',
        '',
      ].join('\n'),
    );
    await writeFile(path.join(dir, 'scenario.yaml'), withPolicy);
    // With the network canary on: its own objects are the harness's, not the policies under test.
    const r = await runExisting('--bundle', '--barrier-timeout', '60');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/canary: 3\/3 pods see it denied/);
    const out = path.join(dir, 'unpacked');
    await mkdir(out);
    await extract({ file: path.join(dir, 'reports', 'r1', 'bulkhead-r1.tar.gz'), cwd: out });
    const files = (await readdir(out, { recursive: true })).map(String);
    const policies = files.find((f) => f.endsWith('manifests/policies.yaml'));
    expect(policies, files.join(', ')).to.not.equal(undefined);
    const text = await readFile(path.join(out, policies ?? ''), 'utf8');
    expect(text).to.contain('name: same-namespace-only');
    expect(text).to.contain('bulkhead.dev/run: r1');
    // Read back from the server: its uid is there, its field bookkeeping is not.
    expect(text).to.match(/^\s+uid: \S+$/m);
    expect(text).to.not.contain('managedFields');
    expect(text).to.not.contain('bulkhead-canary');
  });

  it("runs the user's --suite over the results; a failing assertion there exits 1", async () => {
    // The user's project has bulkhead installed, as `npm install bulkhead` would leave it.
    await mkdir(path.join(dir, 'node_modules'), { recursive: true });
    await symlink(repoRoot, path.join(dir, 'node_modules', 'bulkhead'), 'dir');
    await writeFile(
      path.join(dir, 'mine.spec.ts'),
      [
        "import { currentRun, expect } from 'bulkhead';",
        "describe('mine', () => {",
        "  it('acme reaches its api', () => { expect(currentRun().attempt('acme-to-acme')).to.be.allowed(); });",
        "  it('globex is denied at l7', () => { expect(currentRun().attempt('globex-to-acme')).to.be.deniedAt('l7'); });",
        '});',
        '',
      ].join('\n'),
    );
    const r = await runExisting('--suite', 'mine.spec.ts');
    // Every expectation of the scenario held, but the user's suite expected an L7 deny where the
    // network refused: the run fails on the suite.
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.contain('2 passed, 0 failed, 0 errors');
    expect(r.stdout).to.contain('the conformance suites had failures: see junit.xml');
    const junit = await readFile(path.join(dir, 'reports', 'r1', 'junit.xml'), 'utf8');
    expect(junit).to.contain('globex is denied at l7');
    const missing = await runCli(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--suite', 'nope.ts'],
      dir,
    );
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.equal('error: --suite nope.ts: no such file\n');
  });

  it('exits 1 and lists failures first when an expectation failed', async () => {
    const scenario = SCENARIO.replace('expect: denied }', 'expect: allowed }');
    await writeFile(path.join(dir, 'scenario.yaml'), scenario);
    const r = await runExisting();
    expect(r.code).to.equal(1);
    const rows = r.stdout.split('\n').slice(1, 3);
    expect(rows[0]).to.match(
      /^FAIL\s+globex-to-acme\s+allowed\s+refused\s+3\s+expected allowed, observed refused in the last 3 rounds$/,
    );
    expect(rows[1]).to.match(/^PASS\s+acme-to-acme/);
  });

  it('exits 2 with one clear sentence for an unknown context, a missing kubeconfig, or an unknown provider', async () => {
    const context = await runCli(
      [
        'run',
        '-f',
        'scenario.yaml',
        '--provider',
        'existing',
        '--kubeconfig',
        'kubeconfig',
        '--context',
        'prod',
      ],
      dir,
    );
    expect(context.code).to.equal(2);
    expect(context.stderr).to.equal("error: no context 'prod' in the kubeconfig (it has: fake)\n");
    const missing = await runCli(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--kubeconfig', 'nope'],
      dir,
    );
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/^error: cannot read the kubeconfig: .*nope/);
    const provider = await runCli(['run', '-f', 'scenario.yaml', '--provider', 'minikube'], dir);
    expect(provider.code).to.equal(2);
    expect(provider.stderr).to.contain(
      "argument 'minikube' is invalid. Allowed choices are kind, k3s, existing.",
    );
    expect(server.requests).to.deep.equal([]);
  });

  it('refuses an unlabelled existing namespace with exit 2, creating nothing', async () => {
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tenant-globex' } });
    const r = await runExisting();
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("error: namespace tenant-globex already exists and is not bulkhead's");
    // Reads only; access reviews are POSTs that store nothing.
    expect(
      server.requests.filter((q) => q.method !== 'GET' && !q.path.endsWith('/selfsubjectaccessreviews')),
    ).to.deep.equal([]);
  });
});
