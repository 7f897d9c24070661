import { expect } from 'chai';

import { fixture } from '../support/scenarios.js';
import { runBin, runCli } from '../support/cli.js';

const SHIPPED = 'scenarios/hard-isolation.yaml';

describe('cli', () => {
  it('shows help with the commands and an example', async () => {
    const r = await runCli(['--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('Usage: bulkhead');
    expect(r.stdout).to.match(/schema\s+print the JSON Schema/);
    expect(r.stdout).to.match(/validate \[options\]\s+check a scenario file/);
    expect(r.stdout).to.contain('Example:');
  });

  for (const command of [
    'schema',
    'validate',
    'run',
    'up',
    'down',
    'plan',
    'lint',
    'diff',
    'verify-bundle',
    'agent',
    'agent serve',
    'agent probe',
  ]) {
    it(`shows an example in \`${command} --help\``, async () => {
      const r = await runCli([...command.split(' '), '--help']);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/Examples?:\n\s+\$ (bulkhead|echo .* \| bulkhead) /);
    });
  }

  it('prints the version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.match(/^\d+\.\d+\.\d+$/);
  });

  it('exits 2 on an unknown command or option, with a hint', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.contain("unknown command 'frobnicate'");
    const option = await runCli(['validate', '-f', SHIPPED, '--bogus']);
    expect(option.code).to.equal(2);
    expect(option.stderr).to.contain("unknown option '--bogus'");
    const missing = await runCli(['validate']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain("required option '-f, --file <scenario.yaml>' not specified");
  });

  it('schema prints the JSON Schema', async () => {
    const r = await runCli(['schema']);
    expect(r.code).to.equal(0);
    const schema = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown> };
    expect(schema.$schema).to.equal('https://json-schema.org/draft/2020-12/schema');
    expect(schema.properties).to.have.keys('apiVersion', 'kind', 'metadata', 'spec');
  });

  it('validate summarises a valid scenario and exits 0', async () => {
    const r = await runCli(['validate', '-f', SHIPPED]);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain("scenarios/hard-isolation.yaml: scenario 'hard-isolation' is valid");
    expect(r.stdout).to.match(/namespaces\s+4 \(3 tenants, 1 shared\)/);
    expect(r.stdout).to.match(/attempts\s+\d+ \(9 explicit, \d+ from 11 generators\)/);
    expect(r.stderr).to.equal('');
  });

  it('validate prints the workloads per data plane and the waypoints of a mixed scenario', async () => {
    const r = await runCli(['validate', '-f', 'scenarios/hard-isolation-mixed.yaml']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(
      /data planes\s+sidecar \d+, ambient \d+, none \d+; waypoints tenant-acme\/waypoint \(for service\)/,
    );
  });

  it('validate --list shows every attempt with its expectation', async () => {
    const r = await runCli(['validate', '-f', SHIPPED, '--list']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^ID\s+KIND\s+FROM\s+TARGET\s+EXPECT$/m);
    expect(r.stdout).to.match(
      /^cross-tenant:tenant-acme\/probe->tenant-globex\/api-gateway:8080\s+http\s+tenant-acme\/probe\s+tenant-globex\/api-gateway:8080\s+denied$/m,
    );
    expect(r.stdout).to.match(/^acme-frontend-cannot-delete-orders\s+http\s+.*denied-l7$/m);
  });

  it('validate --list shows segments, each direction of isolation with its attempts, and what is out of scope', async () => {
    const r = await runCli(['validate', '-f', fixture('segments.yaml'), '--list']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(
      /^ {2}segments +cde \(tenant-payments\); corp \(tenant-acme, tenant-globex\); shared \(shared-services\)$/m,
    );
    expect(r.stdout).to.match(/^ {2}isolate +corp -> cde, cde -> corp$/m);
    expect(r.stdout).to.match(
      /^ {2}out of scope +payments database \(managed, outside the cluster\): tested by/m,
    );
    expect(r.stdout).to.match(/^FROM SEGMENT\s+TO SEGMENT\s+ATTEMPTS\s+KINDS$/m);
    expect(r.stdout).to.match(/^corp\s+cde\s+4\s+http$/m);
    expect(r.stdout).to.match(/^cde\s+corp\s+4\s+http$/m);
    const json = await runCli(['validate', '-f', fixture('segments.yaml'), '-o', 'json']);
    expect((JSON.parse(json.stdout) as { isolate: unknown }).isolate).to.deep.equal([
      { from: 'corp', to: 'cde' },
      { from: 'cde', to: 'corp' },
    ]);
  });

  it('validate -o json gives the expanded attempts as data', async () => {
    const r = await runCli(['validate', '-f', fixture('all-fields.yaml'), '-o', 'json']);
    expect(r.code).to.equal(0);
    const out = JSON.parse(r.stdout) as {
      scenario: { name: string; sha256: string };
      attempts: { id: string; expect: string; source: string }[];
      policies: unknown[];
    };
    expect(out.scenario.name).to.equal('all-fields');
    expect(out.attempts.find((a) => a.id === 'http-full')).to.deep.include({ expect: 'denied-l7|reset' });
    expect(out.attempts.find((a) => a.id.startsWith('cross-tenant:'))?.source).to.equal(
      'spec.generators[0] (cross-tenant)',
    );
    expect(out.policies[1]).to.deep.include({
      objects: [
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          namespace: 'green',
          name: 'extra-one',
          line: 1,
        },
        {
          apiVersion: 'security.istio.io/v1',
          kind: 'PeerAuthentication',
          namespace: 'green',
          name: 'default',
          line: 12,
        },
      ],
    });
  });

  it('validate prints located problems and exits 2 on a bad scenario', async () => {
    const r = await runCli(['validate', '-f', fixture('broken.yaml')]);
    expect(r.code).to.equal(2);
    expect(r.stdout).to.equal('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).to.deep.equal([
      `error: ${fixture('broken.yaml')}:7:7: spec.namespaces[0].injecton: unknown field 'injecton' (did you mean 'injection'?)`,
      `error: ${fixture('broken.yaml')}:11:13: spec.attempts[0].kind: unknown kind 'htpp'; expected one of http, tcp, udp, dns, api (did you mean 'http'?)`,
      '2 problems; nothing was done',
    ]);
  });

  it('the installed command exits 2 without a stack trace on bad input, and 0 on good', async () => {
    const bad = await runBin(['validate', '-f', fixture('broken.yaml')]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain("unknown field 'injecton'");
    expect(bad.stderr).to.not.match(/^\s+at /m);
    const missing = await runBin(['validate', '-f', 'no/such/file.yaml']);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(
      /no\/such\/file\.yaml: cannot read scenario: no such file or directory\n$/,
    );
    const good = await runBin(['validate', '-f', SHIPPED]);
    expect(good.code).to.equal(0);
  });
});
