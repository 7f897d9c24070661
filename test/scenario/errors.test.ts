import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { formatProblem, InputError } from '../../harness/errors.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { HEAD, problemsOf } from '../support/scenarios.js';

const TWO_TENANTS = `${HEAD}  tenants:
    - name: acme
      workloads:
        - name: api
          ports: [{ port: 8080, name: http }, { port: 9090, name: admin }]
    - name: globex
`;

/** Formats problems the way the CLI prints them, for readable assertions. */
async function messages(text: string): Promise<string[]> {
  return (await problemsOf(text)).map(formatProblem);
}

describe('scenario loader: errors', () => {
  it('reports YAML syntax errors with line and column', async () => {
    const out = await messages(`${HEAD}  namespaces:\n    - name: [a\n`);
    expect(out).to.have.length.greaterThan(0);
    expect(out[0]).to.match(/^\/virtual\/scenario\.yaml:\d+:\d+: YAML: /);
  });

  it('reports a duplicate key as a YAML error at the key', async () => {
    const [p] = await problemsOf(`${HEAD}  meshRootNamespace: a\n  meshRootNamespace: b\n`);
    expect(p).to.include({ line: 6, column: 3 });
    expect(p?.message).to.equal(
      "YAML: the key 'meshRootNamespace' is already in this mapping (each key once)",
    );
  });

  it('reports an unknown field at the key, with the field path and a suggestion', async () => {
    const out = await messages(`${HEAD}  namespaces:\n    - name: a\n      injecton: true\n`);
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:7:7: spec.namespaces[0].injecton: unknown field 'injecton' (did you mean 'injection'?)",
    ]);
  });

  it('lists the known fields when nothing is close', async () => {
    const [p] = await problemsOf(`${HEAD}  namespaces:\n    - name: a\n      zzzzzz: true\n`);
    expect(p?.message).to.equal(
      "unknown field 'zzzzzz' (known fields: name, labels, injection, dataplane, waypoints, tenant)",
    );
  });

  it('finds unknown fields inside the right attempt kind', async () => {
    const [p] = await problemsOf(
      `${TWO_TENANTS}  attempts:\n    - { id: q, kind: dns, from: tenant-acme/probe, query: { name: x }, dnsSrever: a }\n`,
    );
    expect(p?.path).to.equal('spec.attempts[0].dnsSrever');
    expect(p?.message).to.contain("did you mean 'dnsServer'?");
  });

  it('reports a wrong type with what was given', async () => {
    const [p] = await problemsOf(`${HEAD}  namespaces:\n    - name: a\n      injection: "yes"\n`);
    expect(formatProblem(p!)).to.equal(
      "/virtual/scenario.yaml:7:18: spec.namespaces[0].injection: expected boolean, got 'yes'",
    );
  });

  it('reports a missing required field at its parent', async () => {
    const [p] = await problemsOf(`${HEAD}  workloads:\n    - name: api\n`);
    expect(p).to.include({ path: 'spec.workloads[0].namespace', line: 6, column: 7 });
    expect(p?.message).to.equal('is required (string)');
  });

  it('rejects a wrong apiVersion and kind', async () => {
    const out = await messages(
      'apiVersion: bulkhead.dev/v1\nkind: Scenaro\nmetadata: { name: t }\nspec: {}\n',
    );
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:1:13: apiVersion: got 'bulkhead.dev/v1'; expected 'bulkhead.dev/v1alpha1'",
      "/virtual/scenario.yaml:2:7: kind: got 'Scenaro'; expected 'Scenario' (did you mean 'Scenario'?)",
    ]);
  });

  it('rejects an unknown attempt kind with the choices', async () => {
    const [p] = await problemsOf(
      `${TWO_TENANTS}  attempts:\n    - { id: a, kind: htp, from: tenant-acme/probe }\n`,
    );
    expect(p).to.include({ path: 'spec.attempts[0].kind', line: 12 });
    expect(p?.message).to.equal(
      "unknown kind 'htp'; expected one of http, tcp, udp, dns, api (did you mean 'http'?)",
    );
  });

  it('rejects an unknown expectation with a suggestion', async () => {
    const [p] = await problemsOf(
      `${TWO_TENANTS}  attempts:\n    - { id: a, kind: http, from: tenant-acme/probe, to: tenant-acme/api, port: 8080, expect: denyed }\n`,
    );
    expect(p?.path).to.equal('spec.attempts[0].expect');
    expect(p?.message).to.contain("did you mean 'denied'?");
  });

  it('rejects an expectation a kind cannot produce', async () => {
    const [p] = await problemsOf(
      `${TWO_TENANTS}  attempts:\n    - { id: a, kind: dns, from: tenant-acme/probe, query: { name: x }, expect: allowed }\n`,
    );
    expect(p?.path).to.equal('spec.attempts[0].expect');
    expect(p?.message).to.match(/^'allowed' cannot be the outcome of a dns attempt/);
  });

  it('reports a dangling from and to, with suggestions', async () => {
    const out = await messages(
      `${TWO_TENANTS}  attempts:\n    - { id: a, kind: http, from: tenant-acme/prob, to: tenant-globx/api, port: 8080 }\n`,
    );
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:12:34: spec.attempts[0].from: names no workload of the scenario: 'tenant-acme/prob' (did you mean 'tenant-acme/probe'?)",
      "/virtual/scenario.yaml:12:56: spec.attempts[0].to: names no workload of the scenario: 'tenant-globx/api'",
    ]);
  });

  it('reports a workload in an undeclared namespace', async () => {
    const [p] = await problemsOf(`${TWO_TENANTS}  workloads:\n    - { name: x, namespace: tenant-acm }\n`);
    expect(formatProblem(p!)).to.equal(
      "/virtual/scenario.yaml:12:29: spec.workloads[0].namespace: names no namespace of the scenario: 'tenant-acm' (did you mean 'tenant-acme'?)",
    );
  });

  it('reports a port name the target does not serve, a probe target, and an ambiguous default port', async () => {
    const out = await messages(
      `${TWO_TENANTS}  attempts:\n` +
        '    - { id: a, kind: http, from: tenant-globex/probe, to: tenant-acme/api, port: metrics }\n' +
        '    - { id: b, kind: http, from: tenant-globex/probe, to: tenant-acme/api }\n' +
        '    - { id: c, kind: udp, from: tenant-globex/probe, to: tenant-acme/api, port: http }\n' +
        '    - { id: d, kind: http, from: tenant-globex/probe, to: tenant-acme/probe, port: 80 }\n',
    );
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:12:82: spec.attempts[0].port: 'tenant-acme/api' serves no port metrics (it serves 8080/TCP (http), 9090/TCP (admin)); give a port number to aim at a closed port",
      "/virtual/scenario.yaml:13:59: spec.attempts[1].to: 'tenant-acme/api' serves several TCP ports (8080/TCP (http), 9090/TCP (admin)); say which with 'port'",
      "/virtual/scenario.yaml:14:81: spec.attempts[2].port: port 8080/TCP (http) of 'tenant-acme/api' is TCP; a udp attempt needs UDP",
      "/virtual/scenario.yaml:15:84: spec.attempts[3].port: 'tenant-acme/probe' serves no port 80 (it serves none); a probe has no Service to reach",
    ]);
  });

  it('reports duplicate attempt ids, explicit and generated', async () => {
    const out = await messages(
      `${TWO_TENANTS}  attempts:\n` +
        '    - { id: same, kind: api, from: tenant-acme/probe, request: { verb: list, resource: pods } }\n' +
        '    - { id: same, kind: api, from: tenant-acme/probe, request: { verb: list, resource: pods } }\n' +
        "    - { id: 'cross-tenant:tenant-globex/probe->tenant-acme/api:8080', kind: http, from: tenant-globex/probe, to: tenant-acme/api, port: 8080 }\n" +
        '  generators:\n    - kind: cross-tenant\n',
    );
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:13:7: spec.attempts[1].id: duplicate attempt id 'same' (at line 13; first at line 12)",
      "/virtual/scenario.yaml:16:7: spec.generators[0].id: duplicate attempt id 'cross-tenant:tenant-globex/probe->tenant-acme/api:8080' (generated by spec.generators[0] (cross-tenant); first at line 14)",
    ]);
  });

  it('reports duplicate namespaces, workloads and ports', async () => {
    const out = await messages(
      `${HEAD}  namespaces:\n    - name: a\n    - name: a\n  workloads:\n` +
        '    - { name: w, namespace: a, ports: [80, { port: 80 }] }\n    - { name: w, namespace: a }\n',
    );
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:7:7: spec.namespaces[1]: namespace 'a' is already declared at line 6",
      '/virtual/scenario.yaml:9:44: spec.workloads[0].ports[1]: duplicates port 80/TCP',
      "/virtual/scenario.yaml:10:7: spec.workloads[1]: workload 'a/w' is already declared at line 9",
    ]);
  });

  it('refuses the mesh root namespace as a scenario namespace', async () => {
    const [p] = await problemsOf(`${HEAD}  namespaces:\n    - name: istio-system\n`);
    expect(p?.message).to.contain('mesh root namespace');
  });

  it('needs exactly one of builtin, file, inline in a policy entry, and a known builtin', async () => {
    const out = await messages(
      `${HEAD}  policies:\n    - { builtin: article, file: x.yaml }\n    - {}\n    - builtin: hard-isolaton\n`,
    );
    expect(out).to.deep.equal([
      '/virtual/scenario.yaml:6:7: spec.policies[0]: a policy entry needs exactly one of builtin, file, inline',
      '/virtual/scenario.yaml:7:7: spec.policies[1]: a policy entry needs exactly one of builtin, file, inline',
      "/virtual/scenario.yaml:8:16: spec.policies[2].builtin: got 'hard-isolaton'; expected one of hard-isolation, article (did you mean 'hard-isolation'?)",
    ]);
  });

  it('reports a missing policy file at the file field', async () => {
    const [p] = await problemsOf(`${HEAD}  policies:\n    - file: nope/missing.yaml\n`);
    expect(p).to.include({ line: 6, column: 13, path: 'spec.policies[0].file' });
    expect(p?.message).to.equal(
      'cannot read policy file /virtual/nope/missing.yaml: no such file or directory',
    );
  });

  it('reports YAML errors in inline policies at their line in the scenario', async () => {
    const [p] = await problemsOf(
      `${HEAD}  policies:\n    - inline: |\n        kind: NetworkPolicy\n        apiVersion: [\n`,
    );
    expect(p?.file).to.equal('/virtual/scenario.yaml');
    expect(p?.line).to.be.within(7, 9);
    expect(p?.message).to.match(/^YAML: /);
  });

  it('requires policy documents to be Kubernetes objects', async () => {
    const [p] = await problemsOf(`${HEAD}  policies:\n    - inline: |\n        just: a map\n`);
    expect(p).to.include({ line: 7, message: 'a Kubernetes object needs apiVersion and kind' });
  });

  it('rejects several documents, an empty file and a non-mapping', async () => {
    expect((await problemsOf(`${HEAD}  {}\n---\nfoo: bar\n`))[0]?.message).to.equal(
      'a scenario file holds one YAML document',
    );
    expect((await problemsOf(''))[0]?.message).to.equal('the scenario file is empty');
    expect((await problemsOf('- a\n- b\n'))[0]?.message).to.contain('a scenario is a mapping');
  });

  it('reports generator mistakes: unknown sources, impossible expectations, unknown exclusions', async () => {
    const out = await messages(
      `${TWO_TENANTS}  generators:\n    - kind: dns-recon\n      from: [tenant-acme/nope]\n` +
        '    - kind: plaintext\n      expect: resolved\n' +
        "    - kind: intra-tenant\n      exclude: ['intra-tenant:nothing']\n",
    );
    expect(out).to.deep.include(
      "/virtual/scenario.yaml:13:14: spec.generators[0].from[0]: names no workload of the scenario: 'tenant-acme/nope'",
    );
    expect(out).to.deep.include(
      "/virtual/scenario.yaml:15:15: spec.generators[1].expect: 'resolved' cannot be the outcome of the http attempts it generates",
    );
  });

  it('reports every problem of a file at once', async () => {
    const out = await messages(
      `${HEAD}  namespaces:\n    - name: A\n    - name: b\n      injection: 3\n  bogus: 1\n`,
    );
    expect(out).to.have.length(3);
  });

  it('reports an unreadable scenario file as a problem, not a crash', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-'));
    try {
      const missing = path.join(dir, 'missing.yaml');
      const error: unknown = await loadScenarioFile(missing).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(InputError);
      expect((error as InputError).message).to.equal(
        `${missing}: cannot read scenario: no such file or directory`,
      );
      const ok = path.join(dir, 'ok.yaml');
      await writeFile(
        ok,
        `${HEAD}  tenants: [{ name: a }]\n  attempts: [{ id: d, kind: dns, from: tenant-a/probe, query: { name: x.example, type: A } }]\n`,
      );
      expect((await loadScenarioFile(ok)).namespaces).to.have.length(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
