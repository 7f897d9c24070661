import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { runCli } from '../support/cli.js';

const SCENARIO = `apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: gw }
spec:
  namespaces: [{ name: ingress }]
  tenants:
    - name: a
      workloads: [{ name: api, ports: [8080] }]
    - name: b
      workloads: [{ name: api, ports: [8080] }]
  gateways:
    - name: public
      namespace: ingress
      routes:
        - { hostname: a.example.com, backend: tenant-a/api }
        - { hostname: b.example.com, backend: tenant-b/api }
  generators: [{ kind: gateway }]
`;

describe('cli: a scenario that declares an ingress gateway', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-gateway-'));
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('run no longer refuses it: it goes on to the cluster (here: no kubeconfig, exit 2 for that)', async () => {
    const r = await runCli(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--kubeconfig', 'nowhere', '--reports', 'out'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.not.contain('refuses this scenario');
    expect(r.stderr).to.contain('nowhere');
  });

  it('upgrade-check refuses it at the gateway, exit 2, saying why', async () => {
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(
      "scenario.yaml:12:7: spec.gateways[0]: upgrade-check refuses this scenario: it declares the ingress gateway ingress/public, and its upgrade phases do not cover the gateway's Deployment, which istiod owns",
    );
    expect(await readdir(dir)).to.deep.equal(['scenario.yaml']);
  });

  it('validate --list lists the gateway attempts', async () => {
    const r = await runCli(['validate', '-f', 'scenario.yaml', '--list'], dir);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(
      'gateway:tenant-a/probe-nosidecar->ingress/public:a.example.com/to/tenant-b/api:8080',
    );
  });
});
