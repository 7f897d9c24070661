/**
 * What every provider (kind, k3s, existing) hands the run: a KubeConfig for the kube layer,
 * what it found or installed (recorded in the results), and how to let the cluster go.
 */
import type { KubeConfig } from '@kubernetes/client-node';

export const PROVIDERS = ['kind', 'k3s', 'existing'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** The environment a run judged, as recorded with its results. */
export interface Environment {
  readonly provider: ProviderName;
  /** kind cluster name, k3s container id, or kubeconfig context. */
  readonly cluster: string;
  readonly kubernetes?: string;
  readonly calico?: string;
  readonly istio?: string;
  /** The node image, pinned by digest (kind, k3s). */
  readonly nodeImage?: string;
  /** kind's version (kind). */
  readonly kind?: string;
  /** SHA-256 of the istioctl archive used, and of each Calico manifest applied. */
  readonly artifacts?: Readonly<Record<string, string>>;
  /** True when an existing cluster of that name was used rather than created. */
  readonly reused: boolean;
}

export interface ReleaseProps {
  /** Keep the cluster (a later run or `bulkhead down` deals with it). */
  readonly keep: boolean;
  /** Where the cluster's logs are exported before it is deleted. */
  readonly logsDir?: string;
}

export interface Cluster {
  readonly kubeConfig: KubeConfig;
  /** The kubeconfig as a file (istioctl reads it), when there is one. */
  readonly kubeconfigPath?: string;
  readonly environment: Environment;
  /**
   * The address of bulkhead's stand-in for the internet, when the provider started one (kind:
   * harness/cluster/internet.ts); `internet` attempts dial it.
   */
  readonly internet?: string;
  /** Deletes what bulkhead created unless kept; a cluster it did not create is always kept. */
  release(props: ReleaseProps): Promise<void>;
}
