/**
 * Istio through istioctl of the requested version: the minimal profile (istiod only; kind has
 * no load balancer for a gateway) with the mesh settings the probes rely on: JSON access logs
 * on stdout (evidence), and a short upstream connect timeout, so a dropped connection answers
 * 503 in seconds rather than after Envoy's default 10 s.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

import type { KubeClient } from '../kube/client.js';
import { waitFor } from '../kube/wait.js';
import type { CommandRunner } from './commands.js';
import { istioVersion } from './detect.js';
import type { Istioctl } from './istioctl.js';

export interface IstioProps {
  readonly client: KubeClient;
  readonly runner: CommandRunner;
  readonly istioctl: Istioctl;
  /** The kubeconfig file istioctl reads, and its context. */
  readonly kubeconfigPath: string;
  readonly context: string;
  /** Envoy's upstream connect timeout. @default '2s' */
  readonly connectTimeout?: string;
  /** @default 600000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The istioctl arguments of the install bulkhead makes. */
export function istioInstallArgs(
  props: Pick<IstioProps, 'kubeconfigPath' | 'context' | 'connectTimeout'>,
): string[] {
  return [
    'install',
    '-y',
    '--kubeconfig',
    props.kubeconfigPath,
    '--context',
    props.context,
    '--set',
    'profile=minimal',
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
  return (await istioVersion(props.client)) ?? props.istioctl.version;
}
