/**
 * Istio through istioctl of the requested version: the minimal profile (istiod only; kind has
 * no load balancer for a gateway) with the mesh settings the probes rely on: JSON access logs
 * on stdout (evidence), and a short upstream connect timeout, so a dropped connection answers
 * 503 in seconds rather than after Envoy's default 10 s.
 *
 * For the ambient data plane, the `ambient` profile instead (../shared/reference/ambient-cnp-facts.md
 * A1.1: `istioctl install --set profile=ambient` gives the istiod Deployment and the `istio-cni-node`
 * and `ztunnel` DaemonSets in istio-system, and disables the ingress gateway), with the same mesh
 * settings; sidecar injection still works under it, so one install serves a mixed scenario. The
 * run waits for both DaemonSets to roll out on every node, by kubectl's rule
 * (harness/kube/rollout.ts), not only for istiod.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import type { KubeClient } from '../kube/client.js';
import { waitDaemonSetsRolledOut } from '../kube/rollout.js';
import { waitFor } from '../kube/wait.js';
import type { CommandRunner } from './commands.js';
import { istioVersion } from './detect.js';
import type { Istioctl } from './istioctl.js';

/** The data planes an install serves: sidecars only, or ambient (and sidecars). */
export const INSTALL_DATAPLANES = ['sidecar', 'ambient'] as const;
export type InstallDataplane = (typeof INSTALL_DATAPLANES)[number];

/** istioctl's profile for each (facts A1.1 for ambient). */
export const ISTIO_PROFILES: Readonly<Record<InstallDataplane, string>> = {
  sidecar: 'minimal',
  ambient: 'ambient',
};

/** What the ambient profile adds in istio-system: istio-cni's node agent and ztunnel (facts A1.1). */
export const AMBIENT_DAEMONSETS = ['istio-cni-node', 'ztunnel'] as const;

export interface IstioProps {
  readonly client: KubeClient;
  readonly runner: CommandRunner;
  readonly istioctl: Istioctl;
  /** The kubeconfig file istioctl reads, and its context. */
  readonly kubeconfigPath: string;
  readonly context: string;
  /** @default 'sidecar' */
  readonly dataplane?: InstallDataplane;
  /** Envoy's upstream connect timeout. @default '2s' */
  readonly connectTimeout?: string;
  /** @default 600000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The istioctl arguments of the install bulkhead makes. */
export function istioInstallArgs(
  props: Pick<IstioProps, 'kubeconfigPath' | 'context' | 'connectTimeout' | 'dataplane'>,
): string[] {
  return [
    'install',
    '-y',
    '--kubeconfig',
    props.kubeconfigPath,
    '--context',
    props.context,
    '--set',
    `profile=${ISTIO_PROFILES[props.dataplane ?? 'sidecar']}`,
    '--set',
    'meshConfig.accessLogFile=/dev/stdout',
    '--set',
    'meshConfig.accessLogEncoding=JSON',
    '--set',
    `meshConfig.connectTimeout=${props.connectTimeout ?? '2s'}`,
  ];
}

/** Installs Istio and returns the version istiod runs. */
export async function installIstio(props: IstioProps): Promise<string> {
  const timeoutMs = props.timeoutMs ?? 600_000;
  await props.runner.run(props.istioctl.path, istioInstallArgs(props), {
    timeoutMs,
    ...(props.signal ? { signal: props.signal } : {}),
  });
  // istioctl waits too, but the kube layer is what the run trusts: istiod Available.
  props.runner.log(
    `$ kubectl wait --for=condition=Available deployment/istiod -n istio-system --timeout=${String(Math.round(timeoutMs / 1000))}s`,
  );
  await waitFor<KubernetesObject>(props.client, {
    selection: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'istio-system' },
    until: (ds) =>
      ds.some(
        (d) =>
          d.metadata?.name === 'istiod' &&
          (
            (d as { status?: { conditions?: { type?: string; status?: string }[] } }).status?.conditions ?? []
          ).some((c) => c.type === 'Available' && c.status === 'True'),
      ),
    timeoutMs,
    description: 'deployment istio-system/istiod Available',
    ...(props.signal ? { signal: props.signal } : {}),
  });
  if (props.dataplane === 'ambient') {
    await waitAmbientDataPlane({
      client: props.client,
      log: props.runner.log,
      timeoutMs,
      ...(props.signal ? { signal: props.signal } : {}),
    });
  }
  return (await istioVersion(props.client)) ?? props.istioctl.version;
}

export interface AmbientWaitProps {
  readonly client: KubeClient;
  readonly log: (line: string) => void;
  /** Where Istio runs: istio-system, or calico-system under Calico's bundle (facts A1.10). @default 'istio-system' */
  readonly namespace?: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** Waits until istio-cni and ztunnel have rolled out on every node they schedule on. */
export async function waitAmbientDataPlane(props: AmbientWaitProps): Promise<void> {
  const namespace = props.namespace ?? 'istio-system';
  props.log(
    `$ kubectl rollout status ${AMBIENT_DAEMONSETS.map((d) => `daemonset/${d}`).join(' ')} -n ${namespace} --timeout=${String(Math.round(props.timeoutMs / 1000))}s`,
  );
  await waitDaemonSetsRolledOut({
    client: props.client,
    namespace,
    names: AMBIENT_DAEMONSETS,
    timeoutMs: props.timeoutMs,
    progress: props.log,
    ...(props.signal ? { signal: props.signal } : {}),
  });
}

/** Whether the ambient DaemonSets exist in the namespace (an install with the ambient profile ran). */
export async function hasAmbientDataPlane(client: KubeClient, namespace = 'istio-system'): Promise<boolean> {
  const { items } = await client.list({ apiVersion: 'apps/v1', kind: 'DaemonSet', namespace });
  return AMBIENT_DAEMONSETS.every((n) => items.some((d) => d.metadata?.name === n));
}
