/**
 * `run` reads the cluster's own policies before judging: after the run's objects are applied and
 * before round 1, every policy object that can touch the scenario's namespaces and that the run
 * did not apply (its run label says which it did) is read from the fake API server and predicted
 * with; each attempt whose prediction a foreign object flips is warned of before any attempt and
 * recorded with the object, tier, priority and rule that decided. A flip is a warning: a declared
 * expectation is judged as written, an `auto` one takes the prediction with the cluster's objects.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { create, extract } from 'tar';

import { buildResults } from '../../harness/results/build-results.js';
import { readResultsRecords } from '../../harness/results/records.js';
import { verifyBundle } from '../../harness/report/bundle.js';
import { renderHtmlReport } from '../../harness/report/html.js';
import { CLUSTER_POLICIES_FILE } from '../../harness/report/run-reports.js';
import { reportRun } from '../../harness/run/report-run.js';
import { runJUnit } from '../../harness/report/run-junit.js';
import { createProgress } from '../../harness/run/progress.js';
import { runScenario, type RunResult } from '../../harness/run/runner.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { crd } from '../support/existing-cluster.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads:
        - { name: client }
        - { name: api, ports: [8080] }
  policies:
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: same-namespace-only, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{ from: [{ podSelector: {} }] }] }
  attempts:
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
    - { id: auto-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api }
`;

const CNP = 'policy.networking.k8s.io/v1alpha2';

/** An Admin-tier ClusterNetworkPolicy denying ingress to tenant-acme from tenant-acme itself. */
function denyWithinAcme(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  const acme = { namespaces: { matchLabels: { 'kubernetes.io/metadata.name': 'tenant-acme' } } };
  return {
    apiVersion: CNP,
    kind: 'ClusterNetworkPolicy',
    metadata: { name, labels },
    spec: {
      tier: 'Admin',
      priority: 7,
      subject: acme,
      ingress: [{ name: 'no-acme', action: 'Deny', from: [acme] }],
    },
  };
}

describe('run: the cluster’s own policies, read before judging', function () {
  this.timeout(30_000);
  let server: FakeApiServer;
  let reports: string;
  let closeApp: () => Promise<void>;
  let progress: string[];

  beforeEach(async () => {
    const app = await scriptedServer(['app']);
    closeApp = app.close;
    server = await new FakeApiServer({
      exec: agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: await closedPort(),
        route: (_source, host) => (host.startsWith('api.tenant-acme') ? app.port : undefined),
      }),
    }).start();
    reports = await mkdtemp(path.join(tmpdir(), 'bulkhead-foreign-'));
    progress = [];
  });
  afterEach(async () => {
    await server.stop();
    await closeApp();
    await rm(reports, { recursive: true, force: true });
  });

  async function run(): Promise<RunResult> {
    return runScenario({
      scenario: await load(SCENARIO),
      kubeConfig: server.kubeConfig(),
      agentBundle: '// bundle',
      directory: path.join(reports, 'run-1'),
      runId: 'run-1',
      progress: createProgress({ write: (t) => progress.push(t), interactive: false }),
      settleMs: 0,
      roundIntervalMs: 0,
      convergeTimeoutMs: 20_000,
    });
  }

  /** A foreign CNP that denies within acme, and one carrying this run's labels (the run's own, as its canary is: not foreign, not read). */
  function putForeignAndOwnPolicies(): void {
    server.put(crd('policy.networking.k8s.io', 'v1alpha2', 'ClusterNetworkPolicy', 'clusternetworkpolicies'));
    server.put(denyWithinAcme('platform-freeze'));
    server.put(
      denyWithinAcme('own-object', {
        'app.kubernetes.io/managed-by': 'bulkhead',
        'bulkhead.dev/run': 'run-1',
      }),
    );
  }

  it('warns before round 1 of a foreign ClusterNetworkPolicy that flips an expectation, records it, and judges as declared', async () => {
    putForeignAndOwnPolicies();
    const result = await run();

    const text = progress.join('');
    const warning =
      "warning: the cluster's cluster:ClusterNetworkPolicy/platform-freeze flips acme-to-acme: allowed with the scenario's policies alone, denied-l4 with the cluster's (expected allowed)";
    expect(text).to.contain(warning);
    // Said before any attempt ran.
    expect(text.indexOf(warning)).to.be.below(text.indexOf('execute ...'));

    // The declared expectation is judged as written: the fake network lets acme through, so it passes.
    const byId = new Map(result.results.map((r) => [r.attempt.id, r]));
    expect(byId.get('acme-to-acme')?.judgement.verdict).to.equal('pass');
    // auto takes the prediction with the cluster's objects: denied-l4, observed allowed, so it fails.
    expect(byId.get('auto-acme')?.expect.words).to.deep.equal(['denied-l4']);
    expect(byId.get('auto-acme')?.judgement.verdict).to.equal('fail');

    const { records } = await readResultsRecords(path.join(reports, 'run-1', 'results.jsonl'));
    const types = records.map((r) => r.type);
    expect(types.indexOf('cluster-policies')).to.equal(types.indexOf('policies') + 1);
    expect(types.indexOf('cluster-policies')).to.be.below(types.indexOf('observation'));
    const foreign = records.find((r) => r.type === 'cluster-policies');
    expect(foreign).to.deep.include({ objects: ['cluster:ClusterNetworkPolicy/platform-freeze'] });
    const flips = foreign?.type === 'cluster-policies' ? foreign.flips : [];
    expect(flips.map((f) => [f.attempt, f.expect, f.alone, f.predicted, f.decidedBy])).to.deep.equal([
      ['acme-to-acme', 'allowed', 'allowed', 'denied-l4', ['cluster:ClusterNetworkPolicy/platform-freeze']],
      ['auto-acme', 'auto', 'allowed', 'denied-l4', ['cluster:ClusterNetworkPolicy/platform-freeze']],
    ]);
    // The reason names the tier, the priority and the rule.
    expect(flips[0]?.reasons.join('\n')).to.contain('platform-freeze (Admin, priority 7)');
    expect(flips[0]?.reasons.join('\n')).to.contain("'no-acme' (Deny)");
    const judged = records.find((r) => r.type === 'result' && r.attempt === 'acme-to-acme');
    expect(judged?.type === 'result' ? judged.prediction?.decidedBy : undefined).to.deep.equal([
      'cluster:ClusterNetworkPolicy/platform-freeze',
    ]);
    // Read only: nothing of the cluster's was written, and the run's own is still there untouched.
    expect(
      server.requests.filter((q) => q.method !== 'GET' && q.path.includes('clusternetworkpolicies')),
    ).to.deep.equal([]);

    // results.json's method and the HTML name them.
    const doc = buildResults({ records, scenario: await load(SCENARIO), version: 'test' });
    expect(doc.method.clusterPolicies?.objects).to.deep.equal([
      'cluster:ClusterNetworkPolicy/platform-freeze',
    ]);
    expect(doc.method.clusterPolicies?.judging).to.match(/^A flip is a warning/);
    expect(doc.attempts.find((a) => a.id === 'acme-to-acme')?.prediction?.decidedBy).to.deep.equal([
      'cluster:ClusterNetworkPolicy/platform-freeze',
    ]);
    const html = renderHtmlReport({ document: doc, files: [] });
    expect(html).to.contain('<dt>The cluster&#39;s own policies</dt>');
    expect(html).to.contain('they flip 2 predictions: acme-to-acme (expected allowed');
    expect(html).to.contain('predicted by the cluster&#39;s cluster:ClusterNetworkPolicy/platform-freeze');
  });

  it('keeps read-only copies of the foreign objects it read in the evidence bundle, which verify-bundle covers', async () => {
    putForeignAndOwnPolicies();
    await run();
    const directory = path.join(reports, 'run-1');
    const { records } = await readResultsRecords(path.join(directory, 'results.jsonl'));
    const foreign = records.find((r) => r.type === 'cluster-policies');
    const read = foreign?.type === 'cluster-policies' ? (foreign.read ?? []) : [];
    // As the cluster returned them, without the server's field bookkeeping.
    expect(read.map((o) => (o.metadata as { name?: string }).name)).to.deep.equal(['platform-freeze']);
    expect(read[0]).to.deep.include({ apiVersion: CNP, kind: 'ClusterNetworkPolicy' });
    expect(read[0]?.spec).to.deep.equal(denyWithinAcme('platform-freeze').spec);
    expect(JSON.stringify(read)).to.not.contain('managedFields');

    const reported = await reportRun({ directory, scenario: await load(SCENARIO), bundle: true });
    const bundle = reported.bundle?.file ?? '';
    expect((await verifyBundle(bundle)).ok).to.equal(true);
    const out = path.join(reports, 'unpacked');
    await mkdir(out);
    await extract({ file: bundle, cwd: out });
    const root = path.join(out, 'bulkhead-run-1');
    const text = await readFile(path.join(root, CLUSTER_POLICIES_FILE), 'utf8');
    expect(text).to.match(
      /^# cluster:ClusterNetworkPolicy\/platform-freeze\n# sha256 of its JSON: [0-9a-f]{64}\n/,
    );
    expect(text).to.contain('name: platform-freeze');
    expect(text).to.not.contain('own-object');
    const [, hash] = /sha256 of its JSON: ([0-9a-f]{64})/.exec(text) ?? [];
    expect(hash).to.equal(createHash('sha256').update(JSON.stringify(read[0])).digest('hex'));
    // Listed in SHA256SUMS with the file's hash, so an altered copy fails verification.
    const sums = await readFile(path.join(root, 'SHA256SUMS'), 'utf8');
    expect(sums).to.contain(`${createHash('sha256').update(text).digest('hex')}  ${CLUSTER_POLICIES_FILE}\n`);
    const meta = JSON.parse(await readFile(path.join(root, 'meta', 'run.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(meta.clusterPoliciesSource).to.match(
      /^1 policy object\(s\) the cluster held that the run did not write/,
    );
    await writeFile(path.join(root, CLUSTER_POLICIES_FILE), text.replace('priority: 7', 'priority: 8'));
    const tampered = path.join(reports, 'tampered.tar.gz');
    await create({ gzip: true, file: tampered, cwd: out, portable: true }, ['bulkhead-run-1']);
    const verdict = await verifyBundle(tampered);
    expect(verdict.ok).to.equal(false);
    expect(verdict.problems.join('\n')).to.contain(`${CLUSTER_POLICIES_FILE} was altered`);
  });

  it('records what it read when the cluster holds nothing foreign, and says which kinds it does not serve', async () => {
    const result = await run();
    expect(result.exitCode).to.equal(0);
    expect(progress.join('')).to.not.contain('warning:');
    const { records } = await readResultsRecords(path.join(reports, 'run-1', 'results.jsonl'));
    const foreign = records.find((r) => r.type === 'cluster-policies');
    expect(foreign).to.deep.include({ objects: [], flips: [], unreadable: [] });
    expect(foreign?.type === 'cluster-policies' ? foreign.absent : []).to.include(
      'policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy',
    );
    const judged = records.find((r) => r.type === 'result' && r.attempt === 'acme-to-acme');
    expect(judged?.type === 'result' ? judged.prediction : undefined).to.not.have.property('decidedBy');
  });

  it('notes, without failing, each attempt a staged Calico policy on the cluster would change (results, JUnit, HTML)', async () => {
    server.put(crd('projectcalico.org', 'v3', 'StagedGlobalNetworkPolicy', 'stagedglobalnetworkpolicies'));
    server.put({
      apiVersion: 'projectcalico.org/v3',
      kind: 'StagedGlobalNetworkPolicy',
      metadata: { name: 'freeze-acme' },
      // Order 10: before the NetworkPolicies of the default tier (order 1000), so its Deny decides.
      spec: {
        order: 10,
        selector: "projectcalico.org/namespace == 'tenant-acme'",
        types: ['Ingress'],
        ingress: [{ action: 'Deny' }],
      },
    });
    const result = await run();
    // Staged policies enforce nothing: both attempts are judged on today's policies and pass
    // (auto takes today's prediction, allowed).
    expect(result.results.map((r) => r.judgement.verdict)).to.deep.equal(['pass', 'pass']);
    expect(result.exitCode).to.equal(0);
    expect(progress.join('')).to.contain(
      'staged policies, as if enforced, would change 2 attempt(s); a note, not a verdict',
    );
    const { records } = await readResultsRecords(path.join(reports, 'run-1', 'results.jsonl'));
    const judged = records.find((r) => r.type === 'result' && r.attempt === 'acme-to-acme');
    const note = judged?.type === 'result' ? judged.prediction?.wouldChange : undefined;
    expect(note?.outcome).to.equal('denied-l4');
    expect(note?.reasons.join('\n')).to.contain('cluster:StagedGlobalNetworkPolicy/freeze-acme');
    const doc = buildResults({ records, scenario: await load(SCENARIO), version: 'test' });
    expect(doc.attempts.find((a) => a.id === 'acme-to-acme')?.prediction?.wouldChange?.outcome).to.equal(
      'denied-l4',
    );
    const html = renderHtmlReport({ document: doc, files: [] });
    expect(html).to.contain(
      'would change: allowed -&gt; denied-l4 if Calico&#39;s staged policies were enforced',
    );
    const junit = runJUnit(doc);
    expect(junit).to.contain(
      '<property name="would-change" value="allowed -&gt; denied-l4 if Calico&apos;s staged policies were enforced"/>',
    );
    expect(junit).to.not.contain('<failure');
  });
});
