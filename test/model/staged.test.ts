/**
 * `plan --staged`: Calico's staged policies predicted as if enforced (reference/ambient-cnp-facts.md
 * B6.1: Set previews the policy, Delete the removal of the enforced one of the same name; Learn
 * and Ignore are unverified), with every attempt whose outcome that changes listed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { planAttempts } from '../../harness/model/plan.js';
import { runCli } from '../support/cli.js';
import { HEAD } from '../support/scenarios.js';
import { http, indent, plan, TOPOLOGY } from './support.js';

const ATTEMPTS =
  http('b-a', 'tenant-b/web', 'tenant-a/web', 'expect: allowed') +
  http('a-a', 'tenant-a/probe', 'tenant-a/web', 'expect: allowed');

const STAGED_DENY = `apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: { name: only-same-ns, namespace: tenant-a }
spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{ from: [{ podSelector: {} }] }] }
---
`;
const ENFORCED_ALLOW = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: deny-b }
spec: { selector: "projectcalico.org/namespace == 'tenant-a'", types: [Ingress], ingress: [{ action: Deny, source: { namespaceSelector: "projectcalico.org/name == 'tenant-b'" } }, { action: Pass }] }
---
`;
const stagedGnp = (action: string) => `apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: { name: deny-b }
spec: { stagedAction: ${action}, selector: "projectcalico.org/namespace == 'tenant-a'", types: [Ingress], ingress: [{ action: Pass }] }
---
`;

async function planned(policies: string, staged: boolean) {
  const { scenario } = await plan(policies, ATTEMPTS);
  const manifests = scenario.policies.flatMap((s) => (s.kind === 'builtin' ? [] : s.manifests));
  const out = planAttempts({ ...scenario, manifests }, scenario.attempts, { staged });
  return (id: string) => {
    const p = out.find((x) => x.attempt.id === id);
    if (!p) throw new Error(id);
    return p;
  };
}

describe('model: staged policies', () => {
  it('never enforces them without --staged', async () => {
    const p = await planned(STAGED_DENY, false);
    expect(p('b-a').predicted.outcome).to.equal('allowed');
    expect(p('b-a').wouldChange).to.equal(undefined);
  });

  it('predicts a StagedKubernetesNetworkPolicy as a NetworkPolicy and marks what would change', async () => {
    const p = await planned(STAGED_DENY, true);
    expect(p('b-a').predicted.outcome).to.equal('denied-l4');
    expect(p('b-a').predicted.reasons.join('\n')).to.contain('tenant-a/only-same-ns');
    expect(p('b-a').wouldChange?.current.outcome).to.equal('allowed');
    expect(p('b-a').agrees).to.equal(false);
    // Same-namespace traffic stays allowed: not listed.
    expect(p('a-a').wouldChange).to.equal(undefined);
  });

  it('Set replaces the enforced policy of the same name; Delete removes it', async () => {
    const today = await planned(ENFORCED_ALLOW, false);
    expect(today('b-a').predicted.outcome).to.equal('denied-l4');
    const set = await planned(ENFORCED_ALLOW + stagedGnp('Set'), true);
    expect(set('b-a').predicted.outcome).to.equal('allowed');
    expect(set('b-a').wouldChange?.current.outcome).to.equal('denied-l4');
    const removed = await planned(ENFORCED_ALLOW + stagedGnp('Delete'), true);
    expect(removed('b-a').predicted.outcome).to.equal('allowed');
  });

  it('predicts unknown where a Learn or Ignore policy applies (semantics unverified)', async () => {
    const p = await planned(stagedGnp('Learn'), true);
    expect(p('b-a').predicted.outcome).to.equal('unknown');
    expect(p('b-a').predicted.reasons.join('\n')).to.contain('stagedAction');
  });

  it('bulkhead plan --staged lists the attempts that would change, and judges the staged outcome', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-staged-'));
    try {
      const file = path.join(dir, 's.yaml');
      await writeFile(
        file,
        `${HEAD}${TOPOLOGY}  policies:\n    - inline: |\n${indent(STAGED_DENY, 8)}\n  attempts:\n${indent(ATTEMPTS, 4)}\n`,
      );
      const plain = await runCli(['plan', '-f', file]);
      expect(plain.code, plain.stderr).to.equal(0);
      expect(plain.stdout).to.not.contain('staged policies');
      const staged = await runCli(['plan', '-f', file, '--staged']);
      expect(staged.code).to.equal(1);
      expect(staged.stdout).to.contain(
        'staged policies, as if enforced, change 1 attempt:\n  b-a: allowed -> denied-l4\n',
      );
      const json = await runCli(['plan', '-f', file, '--staged', '-o', 'json']);
      const doc = JSON.parse(json.stdout) as {
        attempts: { id: string; wouldChange?: { current: { outcome: string } } }[];
        summary: { wouldChange?: number };
      };
      expect(doc.summary.wouldChange).to.equal(1);
      expect(doc.attempts.find((a) => a.id === 'b-a')?.wouldChange?.current.outcome).to.equal('allowed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
