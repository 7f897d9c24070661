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
import { waitFor } from '../kube/wait.js';
import type { UpgradeMethod } from './methods.js';
import { ISTIO_NAMESPACE } from './observed.js';

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
 * is Available. Returns the Deployment's name.
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
    `$ kubectl rollout status deployment/${name} -n ${ISTIO_NAMESPACE} --timeout=${String(Math.round(timeoutMs / 1000))}s  # and its image is ${version}`,
  );
  await waitFor<KubernetesObject>(props.client, {
    selection: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ISTIO_NAMESPACE },
    until: (ds) => ds.some((d) => d.metadata?.name === name && runsVersion(d, version) && available(d)),
    timeoutMs,
    description: `deployment ${ISTIO_NAMESPACE}/${name} Available with Istio ${version}`,
    ...signal,
  });
  return name;
}

interface DeploymentShape {
  spec?: { template?: { spec?: { containers?: { name?: string; image?: string }[] } } };
  status?: { conditions?: { type?: string; status?: string }[] };
}

function runsVersion(d: KubernetesObject, version: string): boolean {
  const containers = (d as DeploymentShape).spec?.template?.spec?.containers ?? [];
  const image = (containers.find((c) => c.name === 'discovery') ?? containers[0])?.image;
  return image !== undefined && imageTag(image) === version;
}

function available(d: KubernetesObject): boolean {
  return ((d as DeploymentShape).status?.conditions ?? []).some(
    (c) => c.type === 'Available' && c.status === 'True',
  );
}
