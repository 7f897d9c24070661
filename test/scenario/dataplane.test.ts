import { expect } from 'chai';

import { formatProblem } from '../../harness/errors.js';
import { ambientRefusal, dataPlaneOf } from '../../harness/scenario/dataplane.js';
import { HEAD, load, problemsOf } from '../support/scenarios.js';

const MIXED = `${HEAD}  tenants:
    - name: acme
      dataplane: ambient
      waypoints:
        - { name: waypoint }
      workloads:
        - { name: api, ports: [8080] }
        - { name: legacy, dataplane: sidecar, ports: [8080] }
        - { name: batch, sidecar: false, ports: [9000] }
    - name: globex
      workloads:
        - { name: web, ports: [8080] }
        - { name: edge, dataplane: ambient, ports: [8080] }
  namespaces:
    - name: shared
      injection: true
    - name: mesh-l7
      dataplane: ambient
      waypoints:
        - { name: wp-api, for: all, services: [api] }
      workloads: []
  workloads:
    - { name: api, namespace: mesh-l7, ports: [8080] }
    - { name: other, namespace: mesh-l7, ports: [8080] }
  attempts:
    - { id: a, kind: http, from: tenant-acme/probe-nosidecar, to: tenant-acme/api }
`;

async function messages(text: string): Promise<string[]> {
  return (await problemsOf(text)).map(formatProblem);
}

describe('scenario loader: data planes and waypoints', () => {
  it('gives namespaces and workloads a data plane, old fields mapped onto it', async () => {
    const s = await load(MIXED.replace('      workloads: []\n', ''));
    const ns = (name: string) => s.namespaces.find((n) => n.name === name);
    expect(ns('tenant-acme')).to.deep.include({ dataplane: 'ambient', injection: false });
    // A tenant without a data plane keeps today's default: injection, so sidecars.
    expect(ns('tenant-globex')).to.deep.include({ dataplane: 'sidecar', injection: true });
    expect(ns('shared')).to.deep.include({ dataplane: 'sidecar', injection: true });
    const plane = (key: string) => {
      const w = s.workloads.find((x) => `${x.namespace}/${x.name}` === key);
      return w && { dataplane: dataPlaneOf(w), sidecar: w.sidecar, waypoint: w.waypoint };
    };
    expect(plane('tenant-acme/api')).to.deep.equal({
      dataplane: 'ambient',
      sidecar: false,
      waypoint: 'waypoint',
    });
    expect(plane('tenant-acme/legacy')).to.deep.equal({
      dataplane: 'sidecar',
      sidecar: true,
      waypoint: undefined,
    });
    // sidecar: false in an ambient namespace is out of the mesh, as the sidecar-free probe is.
    expect(plane('tenant-acme/batch')).to.deep.equal({
      dataplane: 'none',
      sidecar: false,
      waypoint: undefined,
    });
    expect(plane('tenant-acme/probe')).to.deep.equal({
      dataplane: 'ambient',
      sidecar: false,
      waypoint: 'waypoint',
    });
    expect(plane('tenant-acme/probe-nosidecar')?.dataplane).to.equal('none');
    expect(plane('tenant-globex/edge')).to.deep.equal({
      dataplane: 'ambient',
      sidecar: false,
      waypoint: undefined,
    });
    // A waypoint naming its services binds only those.
    expect(plane('mesh-l7/api')?.waypoint).to.equal('wp-api');
    expect(plane('mesh-l7/other')?.waypoint).to.equal(undefined);
    expect(ns('mesh-l7')?.waypoints).to.deep.equal([
      { name: 'wp-api', namespace: 'mesh-l7', for: 'all', services: ['api'] },
    ]);
  });

  it('infers the plaintext category for an out-of-mesh source against an ambient target', async () => {
    const s = await load(MIXED.replace('      workloads: []\n', ''));
    expect(s.attempts.find((a) => a.id === 'a')?.category).to.equal('plaintext');
  });

  it('locates contradictions between the old fields and dataplane', async () => {
    const out = await messages(`${HEAD}  namespaces:
    - { name: a, injection: true, dataplane: ambient }
  workloads:
    - { name: w, namespace: a, sidecar: true, dataplane: none }
`);
    expect(out).to.deep.equal([
      '/virtual/scenario.yaml:6:29: spec.namespaces[0].injection: injection: true contradicts dataplane: ambient (injection: true is dataplane: sidecar, false is none); keep one',
      '/virtual/scenario.yaml:8:58: spec.workloads[0].dataplane: sidecar: true contradicts dataplane: none (sidecar: true is dataplane: sidecar, false is none); keep one',
    ]);
  });

  it('refuses waypoints outside ambient namespaces, twice-named, or two taking all workloads', async () => {
    const out = await messages(`${HEAD}  namespaces:
    - name: side
      injection: true
      waypoints: [{ name: w }]
    - name: amb
      dataplane: ambient
      waypoints:
        - { name: w }
        - { name: w }
        - { name: v }
`);
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:8:18: spec.namespaces[0].waypoints: waypoints need an ambient namespace, and this one's data plane is sidecar; set dataplane: ambient",
      "/virtual/scenario.yaml:13:19: spec.namespaces[1].waypoints[1].name: waypoint 'w' is declared twice",
      '/virtual/scenario.yaml:14:11: spec.namespaces[1].waypoints[2].services: a namespace is labelled istio.io/use-waypoint with one name only: a single waypoint may take services: all',
    ]);
  });

  it('refuses waypoint services that are not ambient workloads of the namespace', async () => {
    const out = await messages(`${HEAD}  namespaces:
    - name: amb
      dataplane: ambient
      waypoints:
        - { name: w, services: [api, nope, side] }
        - { name: v, services: [api] }
  workloads:
    - { name: api, namespace: amb, ports: [80] }
    - { name: side, namespace: amb, dataplane: sidecar, ports: [80] }
`);
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:9:38: spec.namespaces[0].waypoints[0].services[1]: names no workload of namespace amb: 'nope'",
      '/virtual/scenario.yaml:9:44: spec.namespaces[0].waypoints[0].services[2]: workload amb/side is on the sidecar data plane; only ambient workloads use a waypoint',
      "/virtual/scenario.yaml:10:33: spec.namespaces[0].waypoints[1].services[0]: workload amb/api already uses waypoint 'w'",
    ]);
  });

  it('refuses a waypoint named like a workload of its namespace', async () => {
    const out = await messages(`${HEAD}  namespaces:
    - { name: amb, dataplane: ambient, waypoints: [{ name: api }] }
  workloads:
    - { name: api, namespace: amb, ports: [80] }
`);
    expect(out).to.deep.equal([
      "/virtual/scenario.yaml:6:60: spec.namespaces[0].waypoints[0].name: waypoint 'api' has the name of workload amb/api; its Deployment and Service would collide",
    ]);
  });

  it('rejects an unknown data plane with the allowed values', async () => {
    const [p] = await problemsOf(`${HEAD}  namespaces:\n    - { name: a, dataplane: ztunnel }\n`);
    expect(p?.path).to.equal('spec.namespaces[0].dataplane');
    expect(p?.message).to.contain('sidecar');
    expect(p?.message).to.contain('ambient');
  });

  it('names the first ambient declaration when a command refuses ambient', async () => {
    const s = await load(MIXED.replace('      workloads: []\n', ''));
    const p = ambientRefusal(s, 'run', 'it is not built');
    expect(p && formatProblem(p)).to.equal(
      '/virtual/scenario.yaml:6:7: spec.tenants[0]: run refuses this scenario: namespace tenant-acme is on the ambient data plane, and it is not built',
    );
    const sidecarOnly = await load(
      `${HEAD}  tenants: [{ name: a, workloads: [{ name: w, ports: [80] }] }]\n`,
    );
    expect(ambientRefusal(sidecarOnly, 'run', 'x')).to.equal(undefined);
  });
});
