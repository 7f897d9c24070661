/** `bulkhead lint` end to end: inputs, output formats, exit codes. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { runBin, runCli } from '../support/cli.js';
import { wellFormedXml } from '../policies/xml-check.js';

const ARTICLE = 'test/policies/fixtures/article';
const SHIPPED = 'scenarios/hard-isolation.yaml';

interface JsonFinding {
  rule: string;
  severity: string;
  message: string;
  object: { kind: string; namespace: string | null; name: string };
  file: string;
  line: number;
}

describe('cli: bulkhead lint', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-lint-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 1 on the article, with a table of located findings and fix hints', async () => {
    const r = await runCli(['lint', ARTICLE]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(
      /test\/policies\/fixtures\/article\/14-authorizationpolicy-deny-shared-service-impersonation\.yaml:14:25\s+error\s+authz\/unsatisfiable-source\s+AuthorizationPolicy istio-system\/deny-shared-service-impersonation\n {4}principals .* never match/,
    );
    expect(r.stdout).to.contain('    fix: ');
    expect(r.stdout).to.match(
      /\d+ errors, \d+ warnings, \d+ infos in 14 objects \(\d+ at or above --fail-on error\)\n$/,
    );
    expect(r.stderr).to.match(/^error: lint: \d+ findings at or above --fail-on error\n$/);
  });

  it('exits 0 on the shipped scenario (builtin:hard-isolation), 1 with --fail-on warning', async () => {
    const ok = await runCli(['lint', '-f', SHIPPED]);
    expect(ok.code).to.equal(0);
    expect(ok.stdout).to.match(/^scenarios\/hard-isolation\.yaml:\d+:\d+\s+warning\s+workload\//);
    expect(ok.stdout).to.match(/\n\d+ warnings, 3 infos in \d+ objects\n$/);
    const strict = await runCli(['lint', '-f', SHIPPED, '--fail-on', 'warning']);
    expect(strict.code).to.equal(1);
  });

  it('writes the JSON shape of the issue', async () => {
    const r = await runCli(['lint', ARTICLE, '-o', 'json']);
    expect(r.code).to.equal(1);
    const out = JSON.parse(r.stdout) as { findings: JsonFinding[] };
    const f = out.findings.find(
      (x) => x.rule === 'authz/spiffe-principal' || x.rule === 'authz/unsatisfiable-source',
    );
    expect(f).to.deep.include({
      rule: 'authz/unsatisfiable-source',
      severity: 'error',
      object: {
        kind: 'AuthorizationPolicy',
        namespace: 'istio-system',
        name: 'deny-shared-service-impersonation',
      },
      file: `${ARTICLE}/14-authorizationpolicy-deny-shared-service-impersonation.yaml`,
      line: 14,
    });
    const gnp = out.findings.find((x) => x.object.kind === 'GlobalNetworkPolicy');
    expect(gnp?.object.namespace).to.equal(null);
    for (const x of out.findings)
      expect(Object.keys(x)).to.include.members(['rule', 'severity', 'message', 'object', 'file', 'line']);
  });

  it('writes JUnit: one test case per object, failing on findings at or above --fail-on', async () => {
    const r = await runCli(['lint', ARTICLE, '-o', 'junit']);
    expect(wellFormedXml(r.stdout)).to.deep.equal([]);
    expect(r.stdout).to.match(/<testsuites name="bulkhead lint" tests="(\d+)" failures="(\d+)"/);
    const [, tests, failures] = /tests="(\d+)" failures="(\d+)"/.exec(r.stdout) ?? [];
    // 14 objects plus the namespaces without default deny the article never creates objects for.
    expect(Number(tests)).to.be.greaterThanOrEqual(14);
    expect(Number(failures)).to.be.greaterThan(3);
    expect(r.stdout).to.contain('<testcase name="EnvoyFilter shared-services/inject-tenant-header"');
    expect(r.stdout).to.match(/<failure message="[^"]+" type="envoyfilter\/lua-header-add">/);
    // Below the threshold: in system-out, the test case passes.
    expect(r.stdout).to.match(
      /<testcase name="AuthorizationPolicy platform-logging\/logging-ingestion-policy"[^>]*>\n(?:(?!<\/testcase>)[\s\S])*<system-out>warning istio\/selector-namespace-mismatch[^<]*info authz\/client-controlled-header/,
    );
    const all = await runCli(['lint', ARTICLE, '-o', 'junit', '--fail-on', 'info']);
    const [, , allFailures] = /tests="(\d+)" failures="(\d+)"/.exec(all.stdout) ?? [];
    expect(Number(allFailures)).to.be.greaterThan(Number(failures));
  });

  it('writes SARIF 2.1.0 with every rule and located results', async () => {
    const r = await runCli(['lint', ARTICLE, '-o', 'sarif']);
    const log = JSON.parse(r.stdout) as {
      version: string;
      runs: {
        tool: { driver: { rules: { id: string }[] } };
        results: {
          ruleId: string;
          level: string;
          locations: { physicalLocation: { region: { startLine: number } } }[];
        }[];
      }[];
    };
    expect(log.version).to.equal('2.1.0');
    const run = log.runs[0]!;
    expect(run.tool.driver.rules.map((x) => x.id)).to.include.members([
      'authz/unsatisfiable-source',
      'calico/pod-label-selector',
      'envoyfilter/lua-header-add',
    ]);
    expect(run.results.map((x) => x.level)).to.include.members(['error', 'warning', 'note']);
    for (const x of run.results)
      expect(x.locations[0]?.physicalLocation.region.startLine).to.be.greaterThan(0);
  });

  it('exits 2 on unreadable or unparsable input, naming file and line', async () => {
    const missing = await runCli(['lint', 'no/such/file.yaml']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.equal('error: no/such/file.yaml: cannot read: no such file or directory\n');
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: [unclosed\n');
    const broken = await runCli(['lint', bad], dir);
    expect(broken.code).to.equal(2);
    expect(broken.stderr).to.match(/^error: bad\.yaml:\d+:\d+: YAML: /);
    const notObject = path.join(dir, 'list.yaml');
    await writeFile(notObject, '- a\n- b\n');
    const list = await runCli(['lint', notObject], dir);
    expect(list.code).to.equal(2);
    expect(list.stderr).to.contain('list.yaml:1:1: a manifest document must be a Kubernetes object');
    const nothing = await runCli(['lint']);
    expect(nothing.code).to.equal(2);
    expect(nothing.stderr).to.contain('nothing to lint');
  });

  it('reads folders recursively and honours --service-cidr', async () => {
    const sub = path.join(dir, 'nested', 'deeper');
    await import('node:fs/promises').then((fs) => fs.mkdir(sub, { recursive: true }));
    await writeFile(
      path.join(sub, 'np.yml'),
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: api, namespace: team-a }
spec:
  podSelector: { matchLabels: { app: web } }
  policyTypes: [Egress]
  egress: [{ to: [{ ipBlock: { cidr: 10.43.0.1/32 } }], ports: [{ port: 443 }] }]
`,
    );
    const dflt = await runCli(['lint', 'nested', '-o', 'json'], dir);
    expect(dflt.code).to.equal(0);
    const k3s = await runCli(['lint', 'nested', '-o', 'json', '--service-cidr', '10.43.0.0/16'], dir);
    expect(k3s.code).to.equal(1);
    const found = (JSON.parse(k3s.stdout) as { findings: JsonFinding[] }).findings.map((f) => f.rule);
    expect(found).to.include('netpol/egress-to-service-ip');
    // The option takes one value: the path after it is still a path (a variadic option took it
    // for a CIDR and left nothing to lint), and a comma list gives several ranges.
    const before = await runCli(
      ['lint', '--service-cidr', '10.0.0.0/16,10.43.0.0/16', 'nested', '-o', 'json'],
      dir,
    );
    expect(before.code, before.stderr).to.equal(1);
    expect((JSON.parse(before.stdout) as { findings: JsonFinding[] }).findings.map((f) => f.rule)).to.include(
      'netpol/egress-to-service-ip',
    );
    const notCidr = await runCli(['lint', 'nested', '--service-cidr', '10.43.0.1'], dir);
    expect(notCidr.code).to.equal(2);
    expect(notCidr.stderr).to.contain("not a CIDR with a prefix length: '10.43.0.1'");
  });

  it('lints builtin:hard-isolation with the API server option, and shows help with examples', async () => {
    const r = await runCli([
      'lint',
      '-f',
      SHIPPED,
      '--api-server',
      '10.96.0.1/32',
      '--api-server-port',
      '443',
    ]);
    // Told to allow the ClusterIP, the bundle now carries the bug the linter knows.
    expect(r.code).to.equal(1);
    expect(r.stdout).to.contain('netpol/egress-to-service-ip');
    const bad = await runCli(['lint', '-f', SHIPPED, '--api-server', 'kind-control-plane']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain("--api-server <cidr[,cidr...]>' argument 'kind-control-plane' is invalid");
    expect(bad.stderr).to.contain('not a CIDR with a prefix length');
    const help = await runCli(['lint', '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/Examples:\n\s+\$ bulkhead lint /);
    expect(help.stdout).to.match(/\n {2}--tenant-label <key> +without -f: /);
    expect(help.stdout).to.match(/\n {2}--tenant-namespaces <list> +without -f: /);
  });

  it('says so when there is nothing to report', async () => {
    const clean = path.join(dir, 'clean.yaml');
    await writeFile(
      clean,
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: istio-system }\nspec: { mtls: { mode: STRICT } }\n',
    );
    const r = await runCli(['lint', 'clean.yaml', '--fail-on', 'info'], dir);
    expect(r).to.deep.equal({ code: 0, stdout: 'no findings in 1 object\n', stderr: '' });
    const json = await runCli(['lint', 'clean.yaml', '-o', 'json'], dir);
    expect(JSON.parse(json.stdout)).to.deep.equal({ findings: [] });
  });

  it('finds tenant-scoped problems in the namespaces --tenant-label marks (repeatable)', async () => {
    const sub = path.join(dir, 'labelled');
    await mkdir(sub, { recursive: true });
    const ns = (name: string, labels: string) =>
      `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name}, labels: { ${labels} } }\n`;
    await writeFile(
      path.join(sub, 'namespaces.yaml'),
      [ns('shop', 'team: shop'), ns('blog', 'org: blog'), ns('platform', 'role: shared')].join('---\n'),
    );
    await writeFile(
      path.join(sub, 'policies.yaml'),
      ['shop', 'blog', 'platform']
        .map(
          (n) =>
            `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: ingress, namespace: ${n} }\nspec: { podSelector: {}, policyTypes: [Ingress] }\n`,
        )
        .join('---\n'),
    );
    const tenantsOf = (stdout: string) =>
      (JSON.parse(stdout) as { findings: JsonFinding[] }).findings
        .filter((f) => f.rule === 'netpol/tenant-without-default-deny')
        .map((f) => f.object.name)
        .sort();
    // No label says tenant, no name starts with tenant-: nothing tenant-scoped to find.
    const plain = await runCli(['lint', 'labelled', '-o', 'json'], dir);
    expect(plain.code).to.equal(0);
    expect(tenantsOf(plain.stdout)).to.deep.equal([]);
    const one = await runCli(['lint', 'labelled', '-o', 'json', '--tenant-label', 'team'], dir);
    expect(one.code).to.equal(1);
    expect(tenantsOf(one.stdout)).to.deep.equal(['shop']);
    const two = await runCli(
      ['lint', 'labelled', '--tenant-label', 'team', '--tenant-label', 'org', '-o', 'json'],
      dir,
    );
    expect(tenantsOf(two.stdout)).to.deep.equal(['blog', 'shop']);
    const table = await runCli(['lint', 'labelled', '--tenant-label', 'team'], dir);
    expect(table.stdout).to.match(
      /^labelled\/policies\.yaml:3:\d+\s+error\s+netpol\/tenant-without-default-deny\s+Namespace shop\n {4}tenant namespace shop has no default deny for Egress/m,
    );
    // --tenant-namespaces: comma-separated and repeatable; with --tenant-label, both count.
    const listed = await runCli(
      [
        'lint',
        'labelled',
        '-o',
        'json',
        '--tenant-namespaces',
        'platform,blog',
        '--tenant-namespaces',
        'shop',
      ],
      dir,
    );
    expect(tenantsOf(listed.stdout)).to.deep.equal(['blog', 'platform', 'shop']);
    const mixed = await runCli(
      ['lint', 'labelled', '-o', 'json', '--tenant-namespaces', 'platform', '--tenant-label', 'org'],
      dir,
    );
    expect(tenantsOf(mixed.stdout)).to.deep.equal(['blog', 'platform']);
  });

  it('exits 2 with one sentence on a bad --tenant-label or --tenant-namespaces', async () => {
    const cases: [string[], string][] = [
      [
        ['--tenant-label', 'team name'],
        "--tenant-label: 'team name' is not a label key: its name must be 1 to 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit (e.g. capsule.clastix.io/tenant)",
      ],
      [
        ['--tenant-label', 'Example.com/team'],
        "--tenant-label: 'Example.com/team' is not a label key: its prefix 'Example.com' is not a DNS subdomain (lower-case letters, digits, '-' and '.') (e.g. capsule.clastix.io/tenant)",
      ],
      [
        ['--tenant-namespaces', 'a,,b'],
        "--tenant-namespaces: 'a,,b' has an empty name; separate names with single commas",
      ],
      [
        ['--tenant-namespaces', 'a', '--tenant-namespaces', 'Team_B'],
        "--tenant-namespaces: 'Team_B' is not a namespace name: a namespace name is at most 63 lower-case letters, digits and '-', beginning and ending with a letter or digit",
      ],
      [
        ['-f', SHIPPED, '--tenant-label', 'team'],
        `--tenant-label is for manifests without a scenario: ${SHIPPED} names its tenants itself`,
      ],
      [
        ['-f', SHIPPED, '--tenant-namespaces', 'a'],
        `--tenant-namespaces is for manifests without a scenario: ${SHIPPED} names its tenants itself`,
      ],
    ];
    for (const [args, sentence] of cases) {
      const r = await runCli(['lint', ARTICLE, ...args]);
      expect(r, args.join(' ')).to.deep.equal({ code: 2, stdout: '', stderr: `error: ${sentence}\n` });
    }
  });

  it('reports a namespace-wide PERMISSIVE that overrides the mesh-wide STRICT, with both places', async () => {
    const sub = path.join(dir, 'mesh');
    await mkdir(sub, { recursive: true });
    await writeFile(
      path.join(sub, 'mesh.yaml'),
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: istio-system }\nspec: { mtls: { mode: STRICT } }\n',
    );
    await writeFile(
      path.join(sub, 'shared.yaml'),
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: shared-services }\nspec:\n  mtls:\n    mode: PERMISSIVE\n',
    );
    const r = await runCli(['lint', 'mesh'], dir);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal(
      'mesh/shared.yaml:6:11  error  peerauth/weakens-mesh-strict  PeerAuthentication shared-services/default\n' +
        '    mTLS mode PERMISSIVE for all of namespace shared-services overrides the mesh-wide STRICT of istio-system/default (mesh/mesh.yaml:4): its workloads accept plaintext peers\n' +
        '    fix: Remove the mode (the mesh-wide STRICT then applies in shared-services), or set it to STRICT; give a workload that must take plaintext its own PeerAuthentication with a selector.\n' +
        '\n1 error in 2 objects (1 at or above --fail-on error)\n',
    );
  });

  it('lists its rules', async () => {
    const r = await runCli(['lint', '--list-rules']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^RULE\s+SEVERITY\s+FINDS\n/);
    expect(r.stdout).to.match(
      /\nauthz\/unsatisfiable-source\s+error\s+A source whose fields contradict each other never matches\n/,
    );
    expect(r.stdout.trim().split('\n').length).to.be.greaterThan(35);
  });

  it('runs as the installed command with the same exit codes', async () => {
    const r = await runBin(['lint', ARTICLE, '-o', 'json']);
    expect(r.code).to.equal(1);
    expect((JSON.parse(r.stdout) as { findings: unknown[] }).findings.length).to.be.greaterThan(10);
    expect(r.stderr).to.not.contain('    at ');
  });
});
