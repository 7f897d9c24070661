import type { V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { bindingGaps, gatewayGaps, podGaps } from '../../harness/run/ambient-footing.js';
import { meshDeadlines } from '../../harness/run/mesh-deadlines.js';
import { captureMismatches, describeCaptureMismatches } from '../../harness/run/sidecars.js';
import type { Scenario } from '../../harness/scenario/types.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      dataplane: ambient
      probes: false
      waypoints:
        - { name: waypoint }
      workloads:
        - { name: client }
        - { name: api, ports: [8080] }
        - { name: batch, sidecar: false, ports: [9000] }
  attempts:
    - { id: via-waypoint, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
    - { id: ztunnel-only, kind: http, from: tenant-acme/client, to: tenant-acme/batch, port: 9000, expect: allowed }
    - { id: explicit, kind: http, from: tenant-acme/client, to: tenant-acme/api, timeoutMs: 3000, expect: allowed }
`;

const pod = (name: string, workload: string, annotation?: string): V1Pod => ({
  metadata: {
    name,
    namespace: 'tenant-acme',
    labels: { 'bulkhead.dev/workload': workload },
    ...(annotation ? { annotations: { 'ambient.istio.io/redirection': annotation } } : {}),
  },
});

describe('ambient footing: capture, waypoints, deadlines', () => {
  let scenario: Scenario;
  before(async () => {
    scenario = await load(SCENARIO);
  });

  it('faults an ambient pod that is not captured (or pending) and a none pod that is, naming each', () => {
    const mismatches = captureMismatches(scenario, [
      pod('client-1', 'client', 'pending'),
      pod('api-1', 'api'),
      pod('batch-1', 'batch', 'enabled'),
    ]);
    expect(mismatches.map((m) => m.pod)).to.deep.equal([
      'tenant-acme/api-1',
      'tenant-acme/batch-1',
      'tenant-acme/client-1',
    ]);
    const lines = describeCaptureMismatches(mismatches);
    expect(lines[0]).to.match(
      /^tenant-acme\/api-1 is not captured by ztunnel \(no ambient.istio.io\/redirection: enabled\)/,
    );
    expect(lines[1]).to.match(/^tenant-acme\/client-1 is ambient.istio.io\/redirection: pending/);
    expect(lines[2]).to.match(/^tenant-acme\/batch-1 is captured by ztunnel although/);
    expect(
      captureMismatches(scenario, [pod('api-1', 'api', 'enabled'), pod('batch-1', 'batch')]),
    ).to.deep.equal([]);
  });

  it('a waypoint is usable once Programmed, a pod Ready, and its Services WaypointBound', () => {
    const [wp] = scenario.namespaces.find((n) => n.name === 'tenant-acme')?.waypoints ?? [];
    if (!wp) throw new Error('no waypoint');
    expect(gatewayGaps(wp, undefined)).to.deep.equal(['Gateway tenant-acme/waypoint is not there']);
    const gateway = (status: string, reason: string) => ({
      metadata: { name: 'waypoint' },
      status: { conditions: [{ type: 'Programmed', status, reason }] },
    });
    expect(gatewayGaps(wp, gateway('False', 'AddressNotAssigned'))).to.deep.equal([
      'Gateway tenant-acme/waypoint is not Programmed (AddressNotAssigned)',
    ]);
    expect(gatewayGaps(wp, gateway('True', 'Programmed'))).to.deep.equal([]);
    const wpPod = (ready: boolean): V1Pod => ({
      metadata: {
        name: 'waypoint-1',
        namespace: 'tenant-acme',
        labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
      },
      status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    expect(podGaps(wp, [])).to.deep.equal(['waypoint tenant-acme/waypoint has no pods yet']);
    expect(podGaps(wp, [wpPod(false)])).to.deep.equal(['no pod of waypoint tenant-acme/waypoint is Ready']);
    expect(podGaps(wp, [wpPod(true)])).to.deep.equal([]);
    const service = (name: string, bound: boolean) => ({
      metadata: { name, namespace: 'tenant-acme' },
      status: {
        conditions: bound
          ? [{ type: 'istio.io/WaypointBound', status: 'True', reason: 'WaypointAccepted' }]
          : [],
      },
    });
    // The namespace-wide waypoint binds every ambient serving workload; batch is out of the mesh.
    expect(bindingGaps(wp, scenario, [service('api', false), service('batch', false)])).to.deep.equal([
      'Service tenant-acme/api is not bound to waypoint waypoint (no istio.io/WaypointBound condition yet)',
    ]);
    expect(bindingGaps(wp, scenario, [service('api', true)])).to.deep.equal([]);
  });

  it('gives ambient attempts more than ztunnel 10 s and Envoy retries through a waypoint, keeping explicit deadlines', () => {
    const mesh = {
      known: true as const,
      connectTimeoutMs: 10_000,
      retries: 2,
      retryOn: 'connect-failure',
      source: 'defaults',
    };
    const { deadlines, record } = meshDeadlines(scenario, mesh, []);
    // Through the waypoint: (1 + 2) × 10 s + 10 s = 40 s, above the facts' 35 s (AO6, D.4).
    expect(deadlines.get('via-waypoint')).to.equal(40_000);
    expect(deadlines.get('ztunnel-only')).to.equal(20_000);
    expect(deadlines.has('explicit')).to.equal(false);
    expect(record.reasoning).to.contain('fixed 10000 ms connect timeout');
  });
});
