/**
 * ClusterNetworkPolicy in the model, one test per rule of its semantics. Each expected outcome
 * names its source: a section of reference/ambient-cnp-facts.md part B (which cites
 * network-policy-api v0.2.0 apis/v1alpha2/clusternetworkpolicy_types.go and calico v3.32.1
 * libcalico-go/lib/backend/k8s/conversion/clusternetworkpolicy.go).
 */
import { expect } from 'chai';

import { Ablator } from '../../harness/model/ablation.js';
import { http, plan, tcp } from './support.js';

const cnp = (name: string, spec: string) =>
  `apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: { name: ${name} }\nspec: ${spec}\n---\n`;
const ns = (name: string) => `{ matchLabels: { kubernetes.io/metadata.name: ${name} } }`;
/** Subject: every pod of tenant-a. */
const SUBJECT_A = `{ namespaces: ${ns('tenant-a')} }`;
/** The tenants' namespaces (not kube-system or istio-system, whose pods every sidecar needs). */
const TENANTS =
  '{ matchExpressions: [{ key: kubernetes.io/metadata.name, operator: In, values: [tenant-a, tenant-b] }] }';
/** Subject: tenant-b's sidecar-free probe, which needs neither istiod nor DNS to start. */
const B_PLAIN = `{ pods: { namespaceSelector: ${ns('tenant-b')}, podSelector: { matchLabels: { bulkhead.dev/workload: probe-nosidecar } } } }`;

const allowAllNp = (namespace: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: allow-all, namespace: ${namespace} }\nspec: { podSelector: {}, ingress: [{}] }\n---\n`;
const denyAllNp = (namespace: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny-all, namespace: ${namespace} }\nspec: { podSelector: {}, policyTypes: [Ingress] }\n---\n`;

const ATTEMPTS =
  http('b-a', 'tenant-b/web', 'tenant-a/web') +
  http('a-a', 'tenant-a/probe', 'tenant-a/web') +
  http('a-b', 'tenant-a/web', 'tenant-b/web') +
  tcp('b-a-9000', 'tenant-b/probe-nosidecar', 'tenant-a/web') +
  `- { id: b-a-udp, kind: udp, from: tenant-b/probe-nosidecar, to: tenant-a/web, port: 5353 }\n`;

async function run(policies: string) {
  return (await plan(policies, ATTEMPTS)).p;
}

const denyFromB = (name: string, priority: number, action = 'Deny', tier = 'Admin', extra = '') =>
  cnp(
    name,
    `{ tier: ${tier}, priority: ${priority}, subject: ${SUBJECT_A}, ingress: [{ name: from-b, action: ${action}, from: [{ namespaces: ${ns('tenant-b')} }]${extra} }] }`,
  );

describe('model: ClusterNetworkPolicy', () => {
  it('an Admin Deny is final: it overrides a NetworkPolicy that allows (B2.1, B2.3)', async () => {
    const p = await run(denyFromB('tenants-never-talk', 10) + allowAllNp('tenant-a'));
    expect(p('b-a')).to.include({ outcome: 'denied-l4', layer: 'network' });
    const reasons = p('b-a').reasons.join('\n');
    expect(reasons).to.contain(
      'ClusterNetworkPolicy tenants-never-talk (Admin, priority 10) (Ingress) [/virtual/scenario.yaml:',
    );
    expect(reasons).to.contain("ingress rule 1 'from-b' (Deny) denies traffic from tenant-b/web");
    // Other peers fall through the Admin tier (it ends with Pass) to the NetworkPolicy, which allows.
    expect(p('a-a').outcome).to.equal('allowed');
  });

  it('an Admin Accept is final: it overrides a NetworkPolicy default deny (B2.3)', async () => {
    const p = await run(denyFromB('platform-allow', 10, 'Accept') + denyAllNp('tenant-a'));
    expect(p('b-a').outcome).to.equal('allowed');
    expect(p('b-a').reasons.join('\n')).to.contain("'from-b' (Accept) allows traffic");
    expect(p('a-a').outcome).to.equal('denied-l4');
  });

  it('an Admin Pass hands the decision to the NetworkPolicy tier (B2.2)', async () => {
    const p = await run(denyFromB('delegate', 10, 'Pass') + denyAllNp('tenant-a'));
    expect(p('b-a').outcome).to.equal('denied-l4');
    const reasons = p('b-a').reasons.join('\n');
    expect(reasons).to.contain("'from-b' (Pass) passes to the next tier");
    expect(reasons).to.contain('tenant-a/deny-all');
  });

  it('a Baseline rule decides only for pods no NetworkPolicy selects (B2.1)', async () => {
    const baseline = cnp(
      'default-deny',
      `{ tier: Baseline, priority: 10, subject: { namespaces: ${TENANTS} }, ingress: [{ action: Deny, from: [{ namespaces: {} }] }] }`,
    );
    const p = await run(baseline + allowAllNp('tenant-a'));
    // tenant-a/web is selected by its NetworkPolicy: the Baseline tier is never reached.
    expect(p('b-a').outcome).to.equal('allowed');
    // tenant-b/web is selected by no NetworkPolicy: the Baseline Deny decides.
    expect(p('a-b').outcome).to.equal('denied-l4');
    expect(p('a-b').reasons.join('\n')).to.contain(
      'ClusterNetworkPolicy default-deny (Baseline, priority 10)',
    );
  });

  it('without any decision the traffic is allowed (B2.1: both CNP tiers end with Pass, B3.2)', async () => {
    const p = await run(
      cnp(
        'unrelated',
        `{ tier: Admin, priority: 1, subject: ${SUBJECT_A}, ingress: [{ action: Deny, from: [{ namespaces: ${ns('nowhere')} }] }] }`,
      ),
    );
    expect(p('b-a').outcome).to.equal('allowed');
    expect(p('b-a').reasons.join('\n')).to.contain('no tier decided Ingress');
  });

  it('across CNPs of a tier the lower priority wins; equal priorities go by name (B2.4, B3.4)', async () => {
    const lower = await run(denyFromB('z-deny', 5) + denyFromB('a-accept', 20, 'Accept'));
    expect(lower('b-a').outcome).to.equal('denied-l4');
    const tie = await run(denyFromB('z-deny', 5) + denyFromB('a-accept', 5, 'Accept'));
    expect(tie('b-a').outcome).to.equal('allowed');
    expect(tie('b-a').reasons.join('\n')).to.contain('ClusterNetworkPolicy a-accept (Admin, priority 5)');
  });

  it('within one CNP the first matching rule wins (B1.5)', async () => {
    const p = await run(
      cnp(
        'ordered',
        `{ tier: Admin, priority: 1, subject: ${SUBJECT_A}, ingress: [{ name: web-ok, action: Accept, from: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { bulkhead.dev/workload: web } } } }] }, { name: rest, action: Deny, from: [{ namespaces: {} }] }] }`,
      ),
    );
    expect(p('b-a').outcome).to.equal('allowed');
    expect(p('b-a-9000').outcome).to.equal('denied-l4');
    expect(p('b-a-9000').reasons.join('\n')).to.contain("ingress rule 2 'rest' (Deny)");
  });

  it('a pods subject selects by namespace and pod labels together (B1.4)', async () => {
    const p = await run(
      cnp(
        'probes-only',
        `{ tier: Admin, priority: 1, subject: ${B_PLAIN}, egress: [{ action: Deny, to: [{ namespaces: {} }] }] }`,
      ),
    );
    expect(p('b-a-9000').outcome).to.equal('denied-l4');
    // tenant-b/web is in the namespace but not selected by the pod selector.
    expect(p('b-a').outcome).to.equal('allowed');
  });

  it('matches ports by number, range, protocol and container port name (B1.7, Calico named ports)', async () => {
    const deny = (protocols: string) => denyFromB('ports', 1, 'Deny', 'Admin', `, protocols: ${protocols}`);
    const byNumber = await run(deny('[{ tcp: { destinationPort: { number: 9000 } } }]'));
    expect(byNumber('b-a-9000').outcome).to.equal('denied-l4');
    expect(byNumber('b-a').outcome).to.equal('allowed');
    const byRange = await run(deny('[{ tcp: { destinationPort: { range: { start: 8000, end: 8080 } } } }]'));
    // The range is inclusive: 8080 is in, 9000 is not.
    expect(byRange('b-a').outcome).to.equal('denied-l4');
    expect(byRange('b-a-9000').outcome).to.equal('allowed');
    const anyTcp = await run(deny('[{ tcp: {} }]'));
    expect(anyTcp('b-a-9000').outcome).to.equal('denied-l4');
    expect(anyTcp('b-a-udp').outcome).to.equal('allowed');
    const udp = await run(deny('[{ udp: { destinationPort: { number: 5353 } } }]'));
    expect(udp('b-a-udp').outcome).to.equal('denied-l4');
    expect(udp('b-a-9000').outcome).to.equal('allowed');
    const named = await run(deny('[{ destinationNamedPort: tcp-raw }]'));
    expect(named('b-a-9000').outcome).to.equal('denied-l4');
    expect(named('b-a').outcome).to.equal('allowed');
    // No protocols: every protocol and port.
    const all = await run(denyFromB('all', 1));
    for (const id of ['b-a', 'b-a-9000', 'b-a-udp']) expect(all(id).outcome, id).to.equal('denied-l4');
  });

  it('an egress networks peer matches pod-to-pod traffic too (B1.6)', async () => {
    const egress = (cidr: string) =>
      cnp(
        'no-egress',
        `{ tier: Admin, priority: 1, subject: ${B_PLAIN}, egress: [{ action: Deny, to: [{ networks: [${cidr}] }] }] }`,
      );
    // The model's pods live in 192.168.0.0/16 (ClusterFacts.podCidrs).
    expect((await run(egress('0.0.0.0/0')))('b-a-9000').outcome).to.equal('denied-l4');
    expect((await run(egress('10.0.0.0/8')))('b-a-9000').outcome).to.equal('allowed');
    // A range that covers part of the pod range: the model cannot place the pod's address.
    expect((await run(egress('192.168.0.0/24')))('b-a-9000').outcome).to.equal('unknown');
  });

  it('a peer Calico does not convert turns a Deny or Pass rule into deny-all, and drops an Accept (B3.5)', async () => {
    const nodes = (action: string) =>
      cnp(
        'to-nodes',
        `{ tier: Admin, priority: 1, subject: ${B_PLAIN}, egress: [{ name: nodes, action: ${action}, to: [{ nodes: { matchLabels: { role: x } } }] }] }`,
      );
    const deny = await run(nodes('Deny'));
    // The API would match only node addresses; Calico denies everything the rule's subject sends.
    expect(deny('b-a-9000').outcome).to.equal('denied-l4');
    expect(deny('b-a-9000').reasons.join('\n')).to.contain('replaced by Calico with a deny-all rule');
    expect((await run(nodes('Pass')))('b-a-9000').outcome).to.equal('denied-l4');
    expect((await run(nodes('Accept')))('b-a-9000').outcome).to.equal('allowed');
    const domain = cnp(
      'to-domain',
      `{ tier: Admin, priority: 1, subject: ${B_PLAIN}, egress: [{ action: Accept, to: [{ domainNames: [example.com] }] }, { action: Deny, to: [{ namespaces: ${ns('tenant-a')} }] }] }`,
    );
    // The Accept rule is dropped, so the Deny after it decides.
    expect((await run(domain))('b-a-9000').outcome).to.equal('denied-l4');
  });

  it("a user tier ordered before kube-admin (1000) overrides an Admin CNP (B3.3); Calico's default tier sits between (B3.2)", async () => {
    const early =
      `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: { name: early }\nspec: { order: 500 }\n---\n` +
      `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: early.allow }\nspec: { tier: early, order: 1, selector: all(), types: [Ingress], ingress: [{ action: Allow }] }\n---\n`;
    const p = await run(early + denyFromB('tenants-never-talk', 10));
    expect(p('b-a').outcome).to.equal('allowed');
    expect(p('b-a').reasons.join('\n')).to.contain('GlobalNetworkPolicy early.allow');
    // A Calico policy may live in kube-admin itself (B3.2): it is ordered with the CNPs.
    const inAdmin = await run(
      `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: admin-allow }\nspec: { tier: kube-admin, order: 1, selector: all(), types: [Ingress], ingress: [{ action: Allow }] }\n---\n` +
        denyFromB('tenants-never-talk', 10),
    );
    expect(inAdmin('b-a').outcome).to.equal('allowed');
  });

  it('a manifest the API server would reject is not understood: the prediction is unknown', async () => {
    const p = await run(
      cnp(
        'bad',
        `{ tier: Admin, priority: 5000, subject: ${SUBJECT_A}, ingress: [{ action: Deny, from: [{ namespaces: {} }] }] }`,
      ),
    );
    expect(p('b-a').outcome).to.equal('unknown');
    expect(p('b-a').reasons.join('\n')).to.contain('spec.priority must be an integer 0-1000');
    const range = await run(
      denyFromB(
        'r',
        1,
        'Deny',
        'Admin',
        ', protocols: [{ tcp: { destinationPort: { range: { start: 90, end: 80 } } } }]',
      ),
    );
    expect(range('b-a').outcome).to.equal('unknown');
  });

  it('--ablate weighs the cluster-wide tier as a layer of its own, only where CNPs exist', async () => {
    const { scenario } = await plan(denyFromB('tenants-never-talk', 10) + denyAllNp('tenant-a'), ATTEMPTS);
    const manifests = scenario.policies.flatMap((s) => (s.kind === 'builtin' ? [] : s.manifests));
    const ablator = new Ablator({ ...scenario, manifests });
    expect(ablator.layers).to.deep.equal(['cluster-network', 'network', 'mtls', 'authorization']);
    const attempt = scenario.attempts.find((a) => a.id === 'b-a');
    if (!attempt) throw new Error('no attempt');
    const a = ablator.ablate(attempt);
    // The Admin CNP and the namespace's NetworkPolicy each deny on their own: no single point of failure.
    expect(a.holdsAlone).to.deep.equal(['cluster-network', 'network']);
    expect(a.failsWithout).to.deep.equal([]);
    expect(a.without['cluster-network']).to.equal('denied-l4');
    const plain = new Ablator({
      ...scenario,
      manifests: manifests.filter((m) => m.object.kind !== 'ClusterNetworkPolicy'),
    });
    expect(plain.layers).to.deep.equal(['network', 'mtls', 'authorization']);
  });
});
