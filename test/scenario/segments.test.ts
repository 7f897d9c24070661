import { readFile } from 'node:fs/promises';

import { expect } from 'chai';

import { formatProblem } from '../../harness/errors.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { pairAttempts } from '../../harness/scenario/segments.js';
import { fixture, HEAD, load, problemsOf } from '../support/scenarios.js';

const TOPOLOGY = `${HEAD}  tenants:
    - name: payments
      workloads: [{ name: vault, ports: [8080] }]
    - name: acme
      workloads: [{ name: web, ports: [8080] }]
  generators:
    - kind: cross-tenant
`;

async function messages(text: string): Promise<string[]> {
  return (await problemsOf(text)).map(formatProblem);
}

describe('scenario: segments, isolation and out of scope', () => {
  it('loads segments, one isolation pair per direction and the out-of-scope systems', async () => {
    const s = await loadScenarioFile(fixture('segments.yaml'));
    expect(s.segments).to.deep.equal([
      { name: 'cde', description: 'cardholder data environment', namespaces: ['tenant-payments'] },
      { name: 'corp', description: 'corporate tenants', namespaces: ['tenant-acme', 'tenant-globex'] },
      { name: 'shared', namespaces: ['shared-services'] },
    ]);
    expect(s.isolate).to.deep.equal([
      { from: 'corp', to: 'cde' },
      { from: 'cde', to: 'corp' },
    ]);
    expect(s.outOfScope).to.deep.equal([
      {
        name: 'payments database (managed, outside the cluster)',
        reason: "tested by the cloud provider's segmentation report",
      },
    ]);
    expect(s.warnings).to.deep.equal([]);
    // corp -> cde: the two probes of acme and of globex, to the vault's one port.
    const corpToCde = pairAttempts(s.attempts, { from: 'corp', to: 'cde' }, s.segments);
    expect(corpToCde.map((a) => a.from.namespace).sort()).to.deep.equal([
      'tenant-acme',
      'tenant-acme',
      'tenant-globex',
      'tenant-globex',
    ]);
    expect(corpToCde.every((a) => 'to' in a && a.to.namespace === 'tenant-payments')).to.equal(true);
  });

  it('a scenario without segments has none, and no isolation or out-of-scope entries', async () => {
    const s = await load(TOPOLOGY);
    expect([s.segments, s.isolate, s.outOfScope]).to.deep.equal([[], [], []]);
  });

  it('refuses a namespace the scenario does not declare, located at the entry, with a suggestion', async () => {
    const out = await messages(`${TOPOLOGY}  segments:\n    - { name: cde, namespaces: [tenant-paymnts] }\n`);
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:13:33: spec.segments[0].namespaces[0]: names no namespace of the scenario: 'tenant-paymnts' (did you mean 'tenant-payments'?)",
    ]);
  });

  it('refuses a namespace in two segments, naming the first', async () => {
    const out = await messages(
      `${TOPOLOGY}  segments:\n    - name: cde\n      namespaces: [tenant-payments]\n    - name: corp\n      namespaces: [tenant-acme, tenant-payments]\n`,
    );
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:16:33: spec.segments[1].namespaces[1]: namespace 'tenant-payments' is already in segment 'cde' (line 14); a namespace is in one segment at most",
    ]);
  });

  it('refuses an unknown segment in isolate, on either side, and a segment isolated from itself', async () => {
    const out = await messages(
      `${TOPOLOGY}  segments:\n    - { name: cde, namespaces: [tenant-payments] }\n    - { name: corp, namespaces: [tenant-acme] }\n  isolate:\n    - { from: crop, to: [cde] }\n    - { from: corp, to: [cdee, corp] }\n`,
    );
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:16:15: spec.isolate[0].from: names no segment of the scenario: 'crop'",
      "/virtual/scenario.yaml:17:26: spec.isolate[1].to[0]: names no segment of the scenario: 'cdee' (did you mean 'cde'?)",
      "/virtual/scenario.yaml:17:32: spec.isolate[1].to[1]: segment 'corp' cannot be isolated from itself",
    ]);
  });

  it('refuses isolate without segments, a duplicate segment and a pair declared twice', async () => {
    expect(await messages(`${TOPOLOGY}  isolate:\n    - { from: a, to: [b] }\n`)).to.deep.equal([
      "/virtual/scenario.yaml:13:15: spec.isolate[0].from: names segment 'a', but spec.segments declares none",
      "/virtual/scenario.yaml:13:23: spec.isolate[0].to[0]: names segment 'b', but spec.segments declares none",
    ]);
    expect(
      await messages(
        `${TOPOLOGY}  segments:\n    - { name: cde, namespaces: [tenant-payments] }\n    - { name: cde, namespaces: [tenant-acme] }\n`,
      ),
    ).to.deep.equal([
      "/virtual/scenario.yaml:14:15: spec.segments[1].name: segment 'cde' is already declared at line 13",
    ]);
    expect(
      await messages(
        `${TOPOLOGY}  segments:\n    - { name: cde, namespaces: [tenant-payments] }\n    - { name: corp, namespaces: [tenant-acme] }\n  isolate:\n    - { from: corp, to: [cde] }\n    - { from: corp, to: [cde] }\n`,
      ),
    ).to.deep.equal([
      "/virtual/scenario.yaml:17:26: spec.isolate[1].to[0]: 'corp' to 'cde' is declared twice",
    ]);
  });

  it('refuses a segment without namespaces and an unknown field, as the schema does', async () => {
    const out = await messages(
      `${TOPOLOGY}  segments:\n    - { name: cde, namespaces: [], descripton: x }\n`,
    );
    expect(out.join('\n')).to.contain('spec.segments[0].namespaces');
    expect(out.join('\n')).to.contain("unknown field 'descripton' (did you mean 'description'?)");
  });

  it('warns for a direction no attempt tests: the report would show it untested', async () => {
    const s = await load(
      `${TOPOLOGY}  namespaces: [{ name: tools }]\n  workloads: [{ name: runner, namespace: tools, ports: [8080] }]\n  segments:\n    - { name: cde, namespaces: [tenant-payments] }\n    - { name: tools, namespaces: [tools] }\n  isolate:\n    - { from: tools, to: [cde] }\n`,
    );
    expect(s.warnings.map(formatProblem)).to.deep.equal([
      "/virtual/scenario.yaml:18:27: spec.isolate[0].to[0]: no attempt goes from segment 'tools' to segment 'cde': the report will show this boundary as untested",
    ]);
  });

  it('the committed JSON Schema describes segments, isolate and outOfScope', async () => {
    const schema = JSON.parse(await readFile('scenarios/scenario.schema.json', 'utf8')) as {
      properties: { spec: { properties: Record<string, { description?: string }> } };
    };
    const spec = schema.properties.spec.properties;
    expect(spec).to.include.keys('segments', 'isolate', 'outOfScope');
    expect(spec.isolate?.description).to.contain('one direction per entry');
  });
});
