/**
 * builtin:hard-isolation against the policy model: the shipped scenario's expectations hold, and
 * each cross-tenant HTTP boundary survives the removal of any one layer (so at least two
 * independent layers hold it). The model does not run EnvoyFilters, so attempts to a workload the
 * identity-header filter patches may be predicted `unknown`, never wrongly.
 */
import { expect } from 'chai';

import { PolicyModel, type ModelInput } from '../../harness/model/evaluate.js';
import { ABLATABLE_LAYERS } from '../../harness/model/types.js';
import type { RenderOptions } from '../../harness/policies/options.js';
import { renderPolicySources } from '../../harness/policies/render.js';
import { validateManifest } from '../../harness/policies/schema-validate.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { satisfies } from '../../harness/scenario/outcomes.js';
import { refText, type Scenario } from '../../harness/scenario/types.js';
import { HEAD, load, problemsOf, repoRoot } from '../support/scenarios.js';
import { formatProblem } from '../../harness/errors.js';

function modelInput(s: Scenario, options: RenderOptions = {}): ModelInput {
  return {
    namespaces: s.namespaces,
    workloads: s.workloads,
    meshRootNamespace: s.meshRootNamespace,
    trustDomain: s.trustDomain,
    clusterDomain: s.clusterDomain,
    manifests: renderPolicySources(s, options),
    attempts: s.attempts,
    gateways: s.gateways ?? [],
  };
}

describe('policies: builtin:hard-isolation in the policy model', () => {
  let scenario: Scenario;
  let input: ModelInput;
  before(async () => {
    scenario = await loadScenarioFile(`${repoRoot}scenarios/hard-isolation.yaml`);
    input = modelInput(scenario);
  });

  it('predicts every expectation of hard-isolation.yaml (unknown only behind the header filter)', () => {
    const model = new PolicyModel(input);
    const wrong: string[] = [];
    let unknownCount = 0;
    for (const a of scenario.attempts) {
      const p = model.predict(a);
      if (p.outcome === 'unknown') {
        const behindFilter = 'to' in a && refText(a.to) === 'shared-services/log-collector';
        if (!behindFilter) wrong.push(`${a.id}: unknown (${p.layer})`);
        unknownCount++;
        continue;
      }
      if (!satisfies(a.expect, p.outcome))
        wrong.push(`${a.id}: expected ${a.expect.outcomes.join('|')}, predicted ${p.outcome}`);
    }
    expect(wrong).to.deep.equal([]);
    // The 168 attempts are mostly decided; only the log collector's layer-7 checks wait for a run.
    expect(unknownCount).to.be.lessThan(12);
    const cross = scenario.attempts.filter((a) => a.category === 'cross-tenant');
    expect(cross.length).to.equal(49);
    for (const a of cross)
      expect(model.predict(a).outcome).to.be.oneOf(['denied-l4', 'denied-l7', 'reset', 'refused']);
    // Generated same-tenant attempts (probe to its own services) are all allowed.
    const intra = scenario.attempts.filter(
      (a) => a.category === 'intra-tenant' && a.origin.generator !== undefined,
    );
    expect(intra.length).to.equal(9);
    for (const a of intra) expect(model.predict(a).outcome, a.id).to.equal('allowed');
  });

  it('holds every cross-tenant HTTP boundary with any one layer removed', () => {
    const cross = scenario.attempts.filter((a) => a.category === 'cross-tenant' && a.kind === 'http');
    expect(cross.length).to.be.greaterThan(40);
    for (const layer of ABLATABLE_LAYERS) {
      const model = new PolicyModel(input, { without: [layer] });
      const leaks = cross.filter((a) => {
        const p = model.predict(a);
        return p.outcome === 'unknown' || !satisfies(a.expect, p.outcome);
      });
      expect(
        leaks.map((a) => a.id),
        `without ${layer}`,
      ).to.deep.equal([]);
    }
  });

  it('puts the cross-tenant deny in ClusterNetworkPolicies with clusterPolicy cnp: schema-valid, same predictions', () => {
    const cnp = modelInput(scenario, { clusterPolicy: 'cnp' });
    const kinds = renderPolicySources(scenario, { clusterPolicy: 'cnp' }).map((m) => String(m.object.kind));
    expect(kinds.filter((k) => k === 'ClusterNetworkPolicy')).to.have.length(
      scenario.namespaces.filter((n) => n.tenant !== undefined).length,
    );
    expect(kinds).to.not.include('Tier');
    expect(kinds).to.not.include('GlobalNetworkPolicy');
    const invalid = renderPolicySources(scenario, { clusterPolicy: 'cnp' })
      .map((m) => ({ m, r: validateManifest(m) }))
      .filter(({ r }) => r.status !== 'valid')
      .map(({ m, r }) => `${String(m.object.kind)} ${m.line}: ${r.status}`);
    expect(invalid).to.deep.equal([]);
    const calico = new PolicyModel(input);
    const viaCnp = new PolicyModel(cnp);
    const differ = scenario.attempts
      .filter((a) => calico.predict(a).outcome !== viaCnp.predict(a).outcome)
      .map((a) => `${a.id}: ${calico.predict(a).outcome} / ${viaCnp.predict(a).outcome}`);
    expect(differ).to.deep.equal([]);
    // The cross-tenant deny now comes from the Admin tier.
    const cross = scenario.attempts.find((a) => a.category === 'cross-tenant' && a.kind === 'http');
    if (!cross) throw new Error('no cross-tenant attempt');
    const without = new PolicyModel(cnp, { without: ['network', 'authorization'] }).predict(cross);
    expect(without.reasons.join('\n')).to.contain("'deny-other-tenants' (Deny) denies traffic");
  });

  it("takes the form from the scenario's clusterPolicy, for builtin: hard-isolation only", async () => {
    const topology =
      '  tenants:\n    - { name: a, workloads: [{ name: web, ports: [8080] }] }\n    - { name: b }\n';
    const s = await load(
      `${HEAD}${topology}  policies:\n    - { builtin: hard-isolation, clusterPolicy: cnp }\n`,
    );
    const kinds = renderPolicySources(s).map((m) => String(m.object.kind));
    expect(kinds.filter((k) => k === 'ClusterNetworkPolicy')).to.have.length(2);
    // The command line's choice wins over the scenario's.
    expect(renderPolicySources(s, { clusterPolicy: 'calico' }).map((m) => String(m.object.kind))).to.include(
      'Tier',
    );
    const problems = await problemsOf(
      `${HEAD}${topology}  policies:\n    - { inline: '', clusterPolicy: cnp }\n`,
    );
    expect(problems.map(formatProblem).join('\n')).to.contain(
      'clusterPolicy applies to builtin: hard-isolation only',
    );
  });
});
