/**
 * The fake API server allocates and checks node ports as the real registry does, so that a run's
 * reading of them is tested against what a cluster would store: allocation in 30000-32767 for
 * every port that names none, refusal of a taken or out-of-range one, the same node port kept
 * across re-applies, and none on a ClusterIP Service.
 */
import type { V1Service } from '@kubernetes/client-node';
import { expect } from 'chai';

import { KubeClient } from '../../harness/kube/client.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';

const service = (name: string, type: string, ports: Record<string, unknown>[]) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { type, selector: { app: name }, ports },
});

describe('fake API server: node ports', () => {
  let server: FakeApiServer;
  let client: KubeClient;
  beforeEach(async () => {
    server = await new FakeApiServer().start();
    client = new KubeClient({ kubeConfig: server.kubeConfig() });
  });
  afterEach(async () => {
    await server.stop();
  });

  const nodePorts = (s: unknown) => ((s as V1Service).spec?.ports ?? []).map((p) => p.nodePort);

  it('allocates a distinct node port in range to every port, and keeps it when re-applied', async () => {
    const a = await client.apply(
      service('a', 'NodePort', [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'alt', port: 8443, protocol: 'TCP' },
      ]),
    );
    const b = await client.apply(service('b', 'NodePort', [{ name: 'http', port: 8080, protocol: 'TCP' }]));
    const all = [...nodePorts(a), ...nodePorts(b)];
    expect(all).to.have.length(3);
    for (const n of all) expect(n).to.be.within(30000, 32767);
    expect(new Set(all).size).to.equal(3);
    const again = await client.apply(
      service('a', 'NodePort', [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'alt', port: 8443, protocol: 'TCP' },
      ]),
    );
    expect(nodePorts(again)).to.deep.equal(nodePorts(a));
    expect(
      nodePorts(await client.read({ apiVersion: 'v1', kind: 'Service', namespace: 'default', name: 'a' })),
    ).to.deep.equal(nodePorts(a));
  });

  it('refuses a node port already allocated, one out of range, and one on a ClusterIP Service', async () => {
    const a = await client.apply(service('a', 'NodePort', [{ name: 'http', port: 8080, protocol: 'TCP' }]));
    const taken = nodePorts(a)[0];
    const refusal = async (object: Record<string, unknown>): Promise<string> => {
      try {
        await client.apply(object);
      } catch (error) {
        return String(error instanceof Error ? error.message : error);
      }
      return 'accepted';
    };
    expect(
      await refusal(
        service('b', 'NodePort', [{ name: 'http', port: 8080, protocol: 'TCP', nodePort: taken }]),
      ),
    ).to.contain(
      `spec.ports[0].nodePort: Invalid value: ${String(taken)}: provided port is already allocated`,
    );
    expect(
      await refusal(
        service('c', 'NodePort', [{ name: 'http', port: 8080, protocol: 'TCP', nodePort: 29999 }]),
      ),
    ).to.contain(
      'spec.ports[0].nodePort: Invalid value: 29999: provided port is not in the valid range. The range of valid ports is 30000-32767',
    );
    expect(
      await refusal(
        service('d', 'ClusterIP', [{ name: 'http', port: 8080, protocol: 'TCP', nodePort: 30500 }]),
      ),
    ).to.contain("spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
    expect(server.get('v1', 'Service', 'default', 'b')).to.equal(undefined);
    const plain = await client.apply(
      service('e', 'ClusterIP', [{ name: 'http', port: 8080, protocol: 'TCP' }]),
    );
    expect(nodePorts(plain)).to.deep.equal([undefined]);
  });
});
