import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { runCli } from '../support/cli.js';

const SCENARIO = `apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: amb }
spec:
  tenants:
    - name: a
      dataplane: ambient
      workloads: [{ name: api, ports: [8080] }]
    - name: b
      workloads: [{ name: api, ports: [8080] }]
  generators: [{ kind: cross-tenant }]
`;

describe('cli: commands that cannot deploy ambient refuse it before touching a cluster', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-ambient-'));
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('run exits 2 naming the ambient namespace, and writes no reports', async () => {
    const r = await runCli(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--kubeconfig', 'nowhere', '--reports', 'out'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(
      'scenario.yaml:6:7: spec.tenants[0]: run refuses this scenario: namespace tenant-a is on the ambient data plane',
    );
    expect(await readdir(dir)).to.deep.equal(['scenario.yaml']);
  });

  it('upgrade-check exits 2 with the ambient upgrade order it does not run', async () => {
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(
      'upgrade-check refuses this scenario: namespace tenant-a is on the ambient data plane',
    );
    expect(r.stderr).to.contain('istio-cni, then ztunnel');
  });
});
