import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { runCli } from '../support/cli.js';

const SCENARIO = `apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: schema-gate }
spec:
  tenants:
    - name: a
      workloads: [{ name: api, ports: [8080] }]
    - name: b
      workloads: [{ name: api, ports: [8080] }]
  policies:
    - file: policies.yaml
  generators: [{ kind: cross-tenant }]
`;

// \`form\` for \`from\`: the API server (bulkhead applies with fieldValidation=Strict) refuses it;
// a client that dropped it would have applied an allow-all ingress rule.
const POLICIES = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: from-own, namespace: tenant-a }
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - form:
        - podSelector: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny, namespace: tenant-b }
spec:
  action: DENIED
`;

const UNKNOWN_FIELD =
  "policies.yaml:8:7: spec.ingress[0].form: NetworkPolicy tenant-a/from-own: unknown field 'form'";
const BAD_ENUM = 'policies.yaml:15:11: spec.action: AuthorizationPolicy tenant-b/deny: must be one of';

describe('cli: run and upgrade-check refuse policy files the API server would refuse, before any cluster', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-schema-gate-'));
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
    await writeFile(path.join(dir, 'policies.yaml'), POLICIES);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('run exits 2 at each violation, reads no kubeconfig and writes no reports', async () => {
    const r = await runCli(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--kubeconfig', 'nowhere', '--reports', 'out'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(UNKNOWN_FIELD);
    expect(r.stderr).to.contain(BAD_ENUM);
    expect(r.stderr).to.contain('2 problems; nothing was done');
    // The kubeconfig `nowhere` would be the next error: it was never read.
    expect(r.stderr).not.to.contain('nowhere');
    expect((await readdir(dir)).sort()).to.deep.equal(['policies.yaml', 'scenario.yaml']);
  });

  it('upgrade-check exits 2 the same way, before its host check and downloads', async () => {
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4'],
      dir,
    );
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(UNKNOWN_FIELD);
    expect(r.stderr).to.contain(BAD_ENUM);
    expect(r.stderr).not.to.match(/docker|download/i);
  });

  it('lint reports the same violations as schema/invalid', async () => {
    const r = await runCli(['lint', '-f', 'scenario.yaml'], dir);
    expect(r.stdout + r.stderr).to.contain('schema/invalid');
  });
});
