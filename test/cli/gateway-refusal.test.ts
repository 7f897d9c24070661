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

describe('cli: commands that cannot deploy an ingress gateway refuse it before touching a cluster', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-gateway-'));
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('run exits 2 naming the gateway, and writes no reports', async () => {
    const r = await runCli(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--kubeconfig', 'nowhere', '--reports', 'out'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(
      'scenario.yaml:12:7: spec.gateways[0]: run refuses this scenario: it declares the ingress gateway ingress/public',
    );
    expect(await readdir(dir)).to.deep.equal(['scenario.yaml']);
  });

  it('upgrade-check exits 2 the same way', async () => {
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('upgrade-check refuses this scenario: it declares the ingress gateway');
  });

  it('validate --list lists the gateway attempts', async () => {
    const r = await runCli(['validate', '-f', 'scenario.yaml', '--list'], dir);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(
      'gateway:tenant-a/probe-nosidecar->ingress/public:a.example.com/to/tenant-b/api:8080',
    );
  });
});
