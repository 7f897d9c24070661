/**
 * builtin:hard-isolation on the ambient data plane (harness/policies/hard-isolation-ambient.ts),
 * in the policy model: the two shipped ambient scenarios plan with no disagreement, every object is
 * schema-valid and lint-clean, no policy ztunnel enforces carries an HTTP attribute (fact A4.3),
 * the waypoint cannot be bypassed (A4.6, AO8), and each cross-tenant HTTP boundary survives the
 * removal of any one layer. Without a waypoint the L7 rules fall back to what ztunnel can check.
 */
import { expect } from 'chai';

import { lintManifests } from '../../harness/lint/index.js';
import { ztunnelStatus } from '../../harness/model/ambient-authz.js';
import { AuthorizationLayer } from '../../harness/model/authorization.js';
import { PolicyModel, planAttempts, type ModelInput } from '../../harness/model/index.js';
import { ABLATABLE_LAYERS } from '../../harness/model/types.js';
import { renderPolicySources } from '../../harness/policies/render.js';
import { validateManifest } from '../../harness/policies/schema-validate.js';
import { dataPlaneOf } from '../../harness/scenario/dataplane.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { satisfies } from '../../harness/scenario/outcomes.js';
import { refText, type Manifest, type Scenario } from '../../harness/scenario/types.js';
import { HEAD, load, repoRoot } from '../support/scenarios.js';

function modelInput(s: Scenario): ModelInput {
  return {
    namespaces: s.namespaces,
    workloads: s.workloads,
    meshRootNamespace: s.meshRootNamespace,
    trustDomain: s.trustDomain,
    clusterDomain: s.clusterDomain,
    manifests: renderPolicySources(s),
    attempts: s.attempts,
  };
}

const name = (m: Manifest) => {
  const md = m.object.metadata as { name: string; namespace?: string };
  return `${String(m.object.kind)} ${md.namespace ? `${md.namespace}/` : ''}${md.name}`;
};

function planned(s: Scenario) {
  return planAttempts(modelInput(s), s.attempts);
}

const SCENARIOS = ['hard-isolation-ambient', 'hard-isolation-mixed'] as const;

describe('policies: builtin:hard-isolation on the ambient data plane', () => {
  const scenarios = new Map<string, Scenario>();
  before(async () => {
    for (const s of SCENARIOS) scenarios.set(s, await loadScenarioFile(`${repoRoot}scenarios/${s}.yaml`));
  });
  const get = (s: string): Scenario => {
    const found = scenarios.get(s);
    if (!found) throw new Error(s);
    return found;
  };

  it('plans hard-isolation-ambient.yaml with every expectation met and nothing unknown', () => {
    const s = get('hard-isolation-ambient');
    const plan = planned(s);
    expect(plan).to.have.length(204);
    expect(
      plan.filter((p) => p.agrees !== true).map((p) => `${p.attempt.id}: ${p.predicted.outcome}`),
    ).to.deep.equal([]);
    // The explicit L7 attempts are decided at the waypoint (403), not by ztunnel's fail-closed reset.
    const byId = new Map(plan.map((p) => [p.attempt.id, p.predicted]));
    expect(byId.get('acme-frontend-cannot-delete-orders')?.outcome).to.equal('denied-l7');
    expect(byId.get('acme-frontend-reads-orders')?.outcome).to.equal('allowed');
    expect(byId.get('acme-impersonates-shared-services')?.outcome).to.equal('denied-l7');
    const bypass = byId.get('acme-frontend-bypasses-waypoint-by-pod-ip');
    expect(bypass?.outcome).to.equal('reset');
    expect(bypass?.reasons.join('\n')).to.contain('skips waypoint tenant-acme/waypoint');
    // Header spoofing is refused by mTLS namespace at the shared waypoint: no header filter needed.
    const spoof = plan.filter((p) => p.attempt.category === 'header-spoof');
    expect(spoof).to.have.length(7);
    for (const p of spoof) expect(p.predicted.outcome, p.attempt.id).to.equal('denied-l7');
  });

  it("tries the other tenants' api-gateway node ports from the out-of-mesh probes only, planned denied by the network", () => {
    for (const name of SCENARIOS) {
      const nodePorts = planned(get(name)).filter((p) => p.attempt.id.includes('->node-port:'));
      // Three probes, each to the two other tenants' api-gateway.
      expect(nodePorts, name).to.have.length(6);
      for (const p of nodePorts) {
        expect(p.attempt.from.name, p.attempt.id).to.equal('probe-nosidecar');
        expect(p.predicted.outcome, p.attempt.id).to.equal('denied-l4');
        expect(p.agrees, p.attempt.id).to.equal(true);
      }
    }
  });

  it('plans hard-isolation-mixed.yaml with no disagreement; unknown only where a sidecar meets an ambient pod', () => {
    const s = get('hard-isolation-mixed');
    const plan = planned(s);
    expect(plan.filter((p) => p.agrees === false).map((p) => p.attempt.id)).to.deep.equal([]);
    const unknown = plan.filter((p) => p.agrees === null);
    expect(unknown.map((p) => p.attempt.id)).to.deep.equal([
      'initech-sidecar-writes-own-logs-to-ambient-collector',
      'initech-sidecar-forges-acme-identity-at-ambient-collector',
    ]);
    for (const p of unknown) {
      expect(p.attempt.expect.auto, p.attempt.id).to.equal(true);
      expect(p.predicted.reasons.join('\n')).to.contain('is not in the reference facts');
    }
    // Across data planes, cross-tenant traffic is dropped every way it could go.
    const across = plan.filter(
      (p) =>
        p.attempt.category === 'cross-tenant' &&
        'to' in p.attempt &&
        [refText(p.attempt.from), refText(p.attempt.to)].some((r) => r.startsWith('tenant-initech/')),
    );
    expect(across.length).to.be.greaterThan(20);
    for (const p of across) expect(p.predicted.outcome, p.attempt.id).to.equal('denied-l4');
  });

  for (const s of SCENARIOS) {
    it(`renders schema-valid, lint-clean objects for ${s}, with no HTTP attribute at ztunnel`, () => {
      const scenario = get(s);
      const manifests = renderPolicySources(scenario);
      const invalid = manifests.filter((m) => validateManifest(m).status !== 'valid').map(name);
      expect(invalid).to.deep.equal([]);
      const findings = lintManifests(manifests, { scenario })
        .filter((f) => f.file === 'builtin:hard-isolation' && f.rule !== 'authz/audit-needs-plugin')
        .map((f) => `${f.rule}: ${f.message}`);
      expect(findings).to.deep.equal([]);
      const ambient = new Set(
        scenario.namespaces.filter((n) => n.dataplane === 'ambient').map((n) => n.name),
      );
      const inAmbient = manifests.filter((m) =>
        ambient.has((m.object.metadata as { namespace?: string }).namespace ?? ''),
      );
      expect(inAmbient.map((m) => String(m.object.kind))).to.not.include('EnvoyFilter');
      const layer = new AuthorizationLayer(
        inAmbient.filter((m) => m.object.kind === 'AuthorizationPolicy'),
        scenario.meshRootNamespace,
        scenario.trustDomain,
      );
      expect(layer.compiled.length).to.be.greaterThan(5);
      for (const p of layer.compiled) expect(ztunnelStatus(p), p.title).to.equal(undefined);
    });

    it(`holds every cross-tenant HTTP boundary of ${s} with any one layer removed`, () => {
      const scenario = get(s);
      const input = modelInput(scenario);
      const cross = scenario.attempts.filter((a) => a.category === 'cross-tenant' && a.kind === 'http');
      expect(cross.length).to.be.greaterThan(40);
      for (const layer of ABLATABLE_LAYERS) {
        const model = new PolicyModel(input, { without: [layer] });
        const leaks = cross.filter((a) => {
          const p = model.predict(a);
          return p.outcome === 'unknown' || !satisfies(a.expect, p.outcome);
        });
        // Where the network is removed, sidecar ↔ ambient paths are no longer decided by it alone.
        const decidable = leaks.filter((a) => {
          if (!('to' in a)) return true;
          const ends = [a.from, a.to].map((r) =>
            scenario.workloads.find((w) => w.namespace === r.namespace && w.name === r.name),
          );
          const planes = new Set(ends.map((w) => (w ? dataPlaneOf(w) : 'none')));
          return !(planes.has('sidecar') && planes.has('ambient'));
        });
        expect(
          decidable.map((a) => a.id),
          `without ${layer}`,
        ).to.deep.equal([]);
      }
    });
  }

  it('puts the cross-tenant deny at the waypoint too: without the network it is a 403 there', () => {
    const s = get('hard-isolation-ambient');
    const a = s.attempts.find((x) => x.id === 'globex-frontend-to-acme-gateway');
    if (!a) throw new Error('attempt');
    const p = new PolicyModel(modelInput(s), { without: ['network'] }).predict(a);
    expect(p.outcome).to.equal('denied-l7');
    expect(p.reasons.join('\n')).to.contain('deny-cross-tenant-at-waypoint');
  });

  it('without a waypoint keeps to what ztunnel can check: callers only, no AUDIT, no targetRefs', async () => {
    const s = await load(`${HEAD}  tenants:
    - name: a
      dataplane: ambient
      workloads:
        - { name: api-gateway, serviceAccount: gw, ports: [{ port: 8080, name: http }] }
        - { name: frontend-service, serviceAccount: fe, ports: [{ port: 8080, name: http }] }
        - { name: payment-service, serviceAccount: pay, ports: [{ port: 8080, name: http }] }
    - name: b
      dataplane: ambient
  namespaces: [{ name: shared, dataplane: ambient }]
  workloads: [{ name: log-collector, namespace: shared, ports: [{ port: 8080, name: http }] }]
  policies: [{ builtin: hard-isolation }]
  attempts:
    - { id: fe-gw, kind: http, from: tenant-a/frontend-service, to: tenant-a/api-gateway, http: { method: DELETE, path: /x } }
    - { id: probe-gw, kind: http, from: tenant-a/probe, to: tenant-a/api-gateway }
    - { id: b-logs, kind: http, from: tenant-b/probe, to: shared/log-collector, http: { method: POST, path: /ingest/tenant-b/x } }
`);
    const manifests = renderPolicySources(s);
    const names = manifests.map(name);
    expect(names).to.not.include('AuthorizationPolicy tenant-a/audit-transactions');
    expect(names).to.not.include('AuthorizationPolicy shared/deny-foreign-ingest');
    expect(names).to.not.include('AuthorizationPolicy shared/deny-shared-service-impersonation');
    expect(names.filter((n) => n.includes('allow-via-'))).to.deep.equal([]);
    expect(JSON.stringify(manifests.map((m) => m.object))).to.not.contain('targetRefs');
    const gw = manifests.find((m) => name(m) === 'AuthorizationPolicy tenant-a/api-gateway-policy');
    expect((gw?.object.spec as { rules: unknown[] }).rules).to.deep.equal([
      { from: [{ source: { principals: ['cluster.local/ns/tenant-a/sa/fe'] } }] },
    ]);
    expect(
      lintManifests(manifests, { scenario: s })
        .filter((f) => f.file === 'builtin:hard-isolation')
        .map((f) => `${f.rule} ${f.object.namespace ?? ''}/${f.object.name}`),
    ).to.deep.equal([]);
    const plan = new Map(planned(s).map((p) => [p.attempt.id, p.predicted.outcome]));
    // ztunnel checks the caller, not the method: the DELETE goes through, the probe is reset.
    expect(plan.get('fe-gw')).to.equal('allowed');
    expect(plan.get('probe-gw')).to.equal('reset');
    expect(plan.get('b-logs')).to.equal('allowed');
  });
});
