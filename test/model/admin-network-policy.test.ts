/**
 * AdminNetworkPolicy and BaselineAdminNetworkPolicy by the Calico release, one test per rule, each
 * naming its source: reference/ambient-cnp-facts.md B4.2 (v3.32 does not enforce them), and the
 * Calico release notes and tier.go at the tags (harness/model/admin-network-policy.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { adminPolicyEffect, ignoredAdminPolicies } from '../../harness/model/admin-network-policy.js';
import { PolicyModel } from '../../harness/model/evaluate.js';
import { runCli } from '../support/cli.js';
import { HEAD, load } from '../support/scenarios.js';
import { http, indent, TOPOLOGY } from './support.js';

const ns = (name: string) => `{ matchLabels: { kubernetes.io/metadata.name: ${name} } }`;
const ANP = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: { name: tenants-never-talk }
spec:
  priority: 10
  subject: { namespaces: ${ns('tenant-a')} }
  ingress: [{ name: from-b, action: Deny, from: [{ namespaces: ${ns('tenant-b')} }] }]
`;
const BANP = `apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: { name: default }
spec:
  subject: { namespaces: ${ns('tenant-a')} }
  ingress: [{ name: from-b, action: Deny, from: [{ namespaces: ${ns('tenant-b')} }] }]
`;
const ATTEMPTS = http('b-a', 'tenant-b/web', 'tenant-a/web');

function scenarioText(policies: string): string {
  return `${HEAD}${TOPOLOGY}  policies:\n    - inline: |\n${indent(policies, 8)}\n  attempts:\n${indent(ATTEMPTS, 4)}\n`;
}

async function predict(policies: string, calico?: string) {
  const scenario = await load(scenarioText(policies));
  const manifests = scenario.policies.flatMap((s) => (s.kind === 'builtin' ? [] : s.manifests));
  const model = new PolicyModel({ ...scenario, manifests, facts: calico ? { calico } : {} });
  const attempt = scenario.attempts.find((a) => a.id === 'b-a');
  if (!attempt) throw new Error('no attempt');
  return { prediction: model.predict(attempt), model, manifests };
}

describe('model: AdminNetworkPolicy kinds by Calico release', () => {
  it('on v3.32.1 an AdminNetworkPolicy changes nothing, and the prediction says so (B4.2)', async () => {
    const { prediction, model } = await predict(ANP, 'v3.32.1');
    // Without the ANP's Deny nothing denies tenant-b → tenant-a: allowed.
    expect(prediction.outcome).to.equal('allowed');
    const reasons = prediction.reasons.join('\n');
    expect(reasons).to.contain('AdminNetworkPolicy tenants-never-talk (/virtual/scenario.yaml:');
    expect(reasons).to.contain(
      'Calico v3.32.1 does not enforce AdminNetworkPolicy: v3.32 removed it and its tier adminnetworkpolicy',
    );
    expect(model.ignored).to.have.length(1);
  });

  it('on v3.32.1 a BaselineAdminNetworkPolicy changes nothing either (B4.2)', async () => {
    const { prediction } = await predict(BANP, 'v3.33.0');
    expect(prediction.outcome).to.equal('allowed');
    expect(prediction.reasons.join('\n')).to.contain(
      'Calico v3.33.0 does not enforce BaselineAdminNetworkPolicy: v3.32 removed it and its tier baselineadminnetworkpolicy',
    );
  });

  it('on v3.31.2 (enforced in tier adminnetworkpolicy, order 1000) the prediction is unknown, with why (B4.2; calico v3.29.0 tier.go)', async () => {
    const { prediction, model } = await predict(ANP, 'v3.31.2');
    expect(prediction.outcome).to.equal('unknown');
    expect(prediction.reasons.join('\n')).to.contain(
      'Calico v3.31.2 enforces AdminNetworkPolicy in its static tier adminnetworkpolicy (order 1,000), whose rules the model does not evaluate',
    );
    expect(model.ignored).to.deep.equal([]);
  });

  it('v3.29 enforces AdminNetworkPolicy but not yet BaselineAdminNetworkPolicy (calico v3.29.0, v3.30.0 release notes)', () => {
    expect(adminPolicyEffect('AdminNetworkPolicy', 'v3.29.0').effect).to.equal('enforced');
    expect(adminPolicyEffect('BaselineAdminNetworkPolicy', 'v3.29.7')).to.deep.include({ effect: 'none' });
    expect(adminPolicyEffect('BaselineAdminNetworkPolicy', 'v3.29.7').why).to.contain(
      'support arrived in v3.30.0',
    );
    expect(adminPolicyEffect('BaselineAdminNetworkPolicy', 'v3.30.0').effect).to.equal('enforced');
    expect(adminPolicyEffect('AdminNetworkPolicy', 'v3.31.7').effect).to.equal('enforced');
    expect(adminPolicyEffect('AdminNetworkPolicy', 'v3.32.0').effect).to.equal('none');
  });

  it('before v3.29.0 Calico does not implement AdminNetworkPolicy: no effect', async () => {
    const { prediction } = await predict(ANP, 'v3.28.2');
    expect(prediction.outcome).to.equal('allowed');
    expect(prediction.reasons.join('\n')).to.contain(
      'Calico v3.28.2 does not implement AdminNetworkPolicy (support arrived in v3.29.0)',
    );
  });

  it('with no Calico release known, the prediction is unknown and says what would decide', async () => {
    const { prediction } = await predict(ANP);
    expect(prediction.outcome).to.equal('unknown');
    expect(prediction.reasons.join('\n')).to.contain(
      'AdminNetworkPolicy is enforced by Calico v3.29.0 to v3.31 (tier adminnetworkpolicy) and ignored from v3.32.0 on; the Calico release is not known',
    );
    expect(adminPolicyEffect('AdminNetworkPolicy', 'master').why).to.contain("'master' is not a release");
  });

  it('lists the objects Calico ignores, for the warnings of plan and run', async () => {
    const { manifests } = await predict(ANP + '---\n' + BANP);
    expect(ignoredAdminPolicies(manifests, 'v3.31.2')).to.deep.equal([]);
    const ignored = ignoredAdminPolicies(manifests, 'v3.32.1');
    expect(ignored).to.have.length(2);
    expect(ignored[1]).to.match(
      /^BaselineAdminNetworkPolicy default \(\/virtual\/scenario\.yaml:\d+\): Calico v3\.32\.1 does not enforce/,
    );
  });
});

describe('bulkhead plan --calico', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-anp-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('predicts with the release given, and warns about what it ignores', async () => {
    const file = path.join(dir, 'anp.yaml');
    await writeFile(file, scenarioText(ANP));
    const ignored = await runCli(['plan', '-f', file, '--calico', 'v3.32.1', '-o', 'json']);
    expect(ignored.code, ignored.stderr).to.equal(0);
    expect(ignored.stderr).to.match(
      /warning: AdminNetworkPolicy tenants-never-talk \(.*anp\.yaml:\d+\): Calico v3\.32\.1 does not enforce AdminNetworkPolicy/,
    );
    const doc = JSON.parse(ignored.stdout) as { attempts: { predicted: { outcome: string } }[] };
    expect(doc.attempts[0]?.predicted.outcome).to.equal('allowed');
    const enforced = await runCli(['plan', '-f', file, '--calico', 'v3.31.2', '-o', 'json']);
    expect(enforced.stderr).to.not.contain('warning');
    const unknown = JSON.parse(enforced.stdout) as { attempts: { predicted: { outcome: string } }[] };
    expect(unknown.attempts[0]?.predicted.outcome).to.equal('unknown');
  });

  it('refuses a --calico that is not a release (exit 2)', async () => {
    const file = path.join(dir, 'anp.yaml');
    await writeFile(file, scenarioText(ANP));
    const bad = await runCli(['plan', '-f', file, '--calico', 'latest']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain("--calico: 'latest' is not a Calico release like v3.31.2");
  });
});
