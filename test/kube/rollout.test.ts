/**
 * The rollout rule (kubectl's `rollout status`, plus no old pod Ready), case by case, and the
 * wait against the fake API server with its deployment controller paused: a rollout caught
 * half way in each of the states a real one passes through.
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { KubeClient } from '../../harness/kube/client.js';
import {
  deploymentRolledOut,
  oldPodsReady,
  RolloutFailedError,
  RolloutWait,
} from '../../harness/kube/rollout.js';
import { WaitTimeoutError } from '../../harness/kube/wait.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';

const deployment = (generation: number, status: Record<string, unknown>, replicas = 2): KubernetesObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'istiod', namespace: 'istio-system', generation },
    spec: { replicas },
    status,
  }) as KubernetesObject;

const available = { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' };

describe('kube/rollout: when a rollout is complete', () => {
  it('needs the spec observed, every replica updated, no old replica left and every updated one available', () => {
    const cases: [KubernetesObject | undefined, string][] = [
      [undefined, 'the Deployment does not exist'],
      // Available is True from the old ReplicaSet all along: it decides nothing.
      [
        deployment(3, {
          observedGeneration: 2,
          replicas: 2,
          updatedReplicas: 2,
          availableReplicas: 2,
          conditions: [available],
        }),
        'spec update not observed yet (generation 3, observed 2)',
      ],
      [
        deployment(3, {
          observedGeneration: 3,
          replicas: 3,
          updatedReplicas: 1,
          availableReplicas: 3,
          conditions: [available],
        }),
        '1 of 2 replicas updated',
      ],
      [
        deployment(3, { observedGeneration: 3, replicas: 3, updatedReplicas: 2, availableReplicas: 3 }),
        '1 old replicas pending termination',
      ],
      [
        deployment(3, { observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 1 }),
        '1 of 2 updated replicas available',
      ],
      [
        deployment(3, { observedGeneration: 4, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }),
        'rolled out',
      ],
    ];
    for (const [d, state] of cases) {
      const r = deploymentRolledOut(d);
      expect(r.state, state).to.equal(state);
      expect(r.complete, state).to.equal(state === 'rolled out');
    }
    const stuck = deploymentRolledOut(
      deployment(2, {
        observedGeneration: 2,
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "istiod-7f" has timed out progressing.',
          },
        ],
      }),
    );
    expect(stuck).to.include({
      complete: false,
      failed: 'ReplicaSet "istiod-7f" has timed out progressing.',
    });
  });

  it('an old pod counts only while it is Ready', () => {
    const pod = (name: string, ready: boolean): V1Pod => ({
      metadata: { name },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const old = (p: V1Pod) => p.metadata?.name?.startsWith('old') ?? false;
    expect(
      oldPodsReady([pod('old-a', true), pod('old-b', false), pod('new-a', true)], old).map(
        (p) => p.metadata?.name,
      ),
    ).to.deep.equal(['old-a']);
  });
});

describe('kube/rollout: RolloutWait against the fake API server', function () {
  this.timeout(30_000);
  let server: FakeApiServer;
  let client: KubeClient;
  beforeEach(async () => {
    server = await new FakeApiServer({}).start();
    client = new KubeClient({ kubeConfig: server.kubeConfig() });
    server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  });
  afterEach(async () => {
    await server.stop();
  });

  const template = (version: string) => ({
    metadata: { labels: { app: 'istiod' } },
    spec: { containers: [{ name: 'discovery', image: `docker.io/istio/pilot:${version}` }] },
  });
  const isOld = (pod: V1Pod) => pod.spec?.containers[0]?.image !== 'docker.io/istio/pilot:1.30.4';
  const target = { namespace: 'istio-system', name: 'istiod', description: 'Istio 1.30.4', isOld };
  /** The wait, cut short: the state it was still waiting in. */
  const stillWaiting = async (): Promise<string> => {
    const error = await new RolloutWait({ client, timeoutMs: 400 }).until(target).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(WaitTimeoutError);
    return (error as Error).message;
  };

  it('waits through each half-way state of an in-place rollout and ends once it is complete', async () => {
    server.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: 'istio-system' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'istiod' } }, template: template('1.29.3') },
    });
    // The controller ran 1.29.3; now it is paused and the template moves to 1.30.4.
    await new RolloutWait({ client, timeoutMs: 5000 }).until({ ...target, isOld: () => false });
    const [oldPod] = server.list('v1', 'Pod', 'istio-system');
    if (!oldPod) throw new Error('the controller made no istiod pod');
    server.pauseDeployment('istio-system', 'istiod');
    const current = server.get('apps/v1', 'Deployment', 'istio-system', 'istiod');
    const moved = server.put({
      ...current,
      spec: { ...(current?.spec ?? {}), template: template('1.30.4') },
    });
    expect(moved.metadata.generation).to.equal(2);
    const status = (s: Record<string, unknown>) => {
      const d = server.get('apps/v1', 'Deployment', 'istio-system', 'istiod');
      server.put({ ...d, status: { conditions: [available], ...s } });
    };

    status({ observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
    expect(await stillWaiting()).to.contain('(spec update not observed yet (generation 2, observed 1))');
    status({ observedGeneration: 2, replicas: 2, updatedReplicas: 1, availableReplicas: 1 });
    expect(await stillWaiting()).to.contain('(1 old replicas pending termination)');
    // The controller is done by its status, but the old istiod pod still serves.
    server.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'istiod-new', namespace: 'istio-system', labels: { app: 'istiod' } },
      spec: template('1.30.4').spec,
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    status({ observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 });
    expect(await stillWaiting()).to.match(
      new RegExp(
        `old pods of deployment istio-system/istiod to stop being Ready .*still Ready: ${oldPod.metadata.name}\\)`,
      ),
    );

    const done = new RolloutWait({ client, timeoutMs: 10_000 }).until(target);
    server.put({ ...oldPod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } });
    await done;
  });

  it('a rollout past its progress deadline is a fault at once, with the controller’s words', async () => {
    server.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'istiod', namespace: 'istio-system' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'istiod' } }, template: template('1.30.4') },
    });
    server.pauseDeployment('istio-system', 'istiod');
    const d = server.get('apps/v1', 'Deployment', 'istio-system', 'istiod');
    server.put({
      ...d,
      status: {
        observedGeneration: 1,
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "istiod-5c" has timed out progressing.',
          },
        ],
      },
    });
    const error = await new RolloutWait({ client, timeoutMs: 20_000 }).until(target).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(RolloutFailedError);
    expect((error as Error).message).to.equal(
      'the rollout of deployment istio-system/istiod (Istio 1.30.4) failed: ReplicaSet "istiod-5c" has timed out progressing.',
    );
  });
});
