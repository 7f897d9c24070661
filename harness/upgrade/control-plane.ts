/**
 * The control-plane half of an Istio upgrade, with the workloads left alone: the new istioctl
 * installs the new istiod either in place (the `default` revision is replaced) or beside the
 * old one as a revision (a canary), whose namespaces are then relabelled `istio.io/rev=<rev>`.
 * Relabelling changes no pod: sidecars are injected at pod creation, so every running pod keeps
 * the old proxy until it is restarted. That is the mixed state the second phase measures.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import type { CommandRunner } from '../cluster/commands.js';
import { imageTag } from '../cluster/detect.js';
import { istioInstallArgs } from '../cluster/istio.js';
import type { Istioctl } from '../cluster/istioctl.js';
import type { KubeClient } from '../kube/client.js';
import { RolloutWait } from '../kube/rollout.js';
import { waitFor } from '../kube/wait.js';
import type { UpgradeMethod } from './methods.js';
import { discoveryImage, ISTIO_NAMESPACE } from '../cluster/detect.js';

export { UPGRADE_METHODS, type UpgradeMethod } from './methods.js';

/** Istio's revision names are label values: `1.30.4` → `1-30-4`. */
export function revisionName(version: string): string {
  return version.replace(/[^A-Za-z0-9-]/g, '-');
}

export interface ControlPlaneUpgradeProps {
  readonly client: KubeClient;
  readonly runner: CommandRunner;
  /** istioctl of the version upgraded to. */
  readonly istioctl: Istioctl;
  readonly method: UpgradeMethod;
  readonly kubeconfigPath: string;
  readonly context: string;
  /** @default 600000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The istioctl arguments of the upgrade: the same mesh settings as the first install. */
export function upgradeArgs(
  props: Pick<ControlPlaneUpgradeProps, 'method' | 'kubeconfigPath' | 'context'> & { version: string },
): string[] {
  const args = istioInstallArgs({ kubeconfigPath: props.kubeconfigPath, context: props.context });
  return props.method === 'revision' ? [...args, '--revision', revisionName(props.version)] : args;
}

/**
 * Installs the new control plane and waits until its istiod Deployment runs the new image and
 * its rollout is complete ({@link RolloutWait}: observed, every replica updated and available,
 * and no istiod pod of another version still Ready; `Available` alone is already True from
 * the old ReplicaSet during an in-place rollout). Returns the Deployment's name.
 */
export async function upgradeControlPlane(props: ControlPlaneUpgradeProps): Promise<string> {
  const timeoutMs = props.timeoutMs ?? 600_000;
  const version = props.istioctl.version;
  const signal = props.signal ? { signal: props.signal } : {};
  await props.runner.run(
    props.istioctl.path,
    upgradeArgs({
      method: props.method,
      kubeconfigPath: props.kubeconfigPath,
      context: props.context,
      version,
    }),
    { timeoutMs, ...signal },
  );
  const name = props.method === 'revision' ? `istiod-${revisionName(version)}` : 'istiod';
  props.runner.log(
    `$ kubectl rollout status deployment/${name} -n ${ISTIO_NAMESPACE} --timeout=${String(Math.round(timeoutMs / 1000))}s  # and its image is ${version}, no istiod pod of another version Ready`,
  );
  const deadline = Date.now() + timeoutMs;
  // The template first: until istioctl wrote the new image, the old rollout looks complete.
  await waitFor<KubernetesObject>(props.client, {
    selection: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ISTIO_NAMESPACE },
    until: (ds) => ds.some((d) => d.metadata?.name === name && runsVersion(d, version)),
    timeoutMs,
    description: `deployment ${ISTIO_NAMESPACE}/${name} with Istio ${version}`,
    ...signal,
  });
  await new RolloutWait({
    client: props.client,
    timeoutMs: Math.max(1, deadline - Date.now()),
    ...signal,
  }).until({
    namespace: ISTIO_NAMESPACE,
    name,
    description: `Istio ${version}`,
    isOld: (pod) => {
      const image = discoveryImage(pod.spec?.containers ?? []);
      return image === undefined || imageTag(image) !== version;
    },
  });
  return name;
}

interface DeploymentShape {
  spec?: { template?: { spec?: { containers?: { name?: string; image?: string }[] } } };
}

function runsVersion(d: KubernetesObject, version: string): boolean {
  const image = discoveryImage((d as DeploymentShape).spec?.template?.spec?.containers ?? []);
  return image !== undefined && imageTag(image) === version;
}
