import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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

describe('cli: upgrade-check, which does not run ambient upgrades, refuses ambient before touching a cluster', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-ambient-'));
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
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
