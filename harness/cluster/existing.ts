/**
 * The existing provider: the cluster of a kubeconfig context, used as it is. bulkhead installs
 * nothing on it and never deletes it; it reports what it finds (Kubernetes, Calico, Istio).
 */
import path from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';

import { UserError } from '../errors.js';
import { KubeClient } from '../kube/client.js';
import { describePermission, missingPermissions } from './access.js';
import type { StepLog } from './commands.js';
import { detectVersions } from './detect.js';
import type { Cluster } from './provider.js';
import { unsupportedPair } from './versions.js';

export interface ExistingProps {
  /** @default $KUBECONFIG or ~/.kube/config */
  readonly kubeconfig?: string;
  /** @default the kubeconfig's current context */
  readonly context?: string;
  readonly cwd: string;
  readonly log?: StepLog;
}

export function loadKubeConfig(props: Pick<ExistingProps, 'kubeconfig' | 'context' | 'cwd'>): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (props.kubeconfig) kc.loadFromFile(path.resolve(props.cwd, props.kubeconfig));
    else kc.loadFromDefault();
  } catch (error) {
    throw new UserError(
      `cannot read the kubeconfig: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (props.context) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(props.context)) {
      throw new UserError(
        `no context '${props.context}' in the kubeconfig (it has: ${names.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(props.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new UserError('the kubeconfig names no current cluster; pass --context or --kubeconfig');
  }
  return kc;
}

export async function connectExisting(props: ExistingProps): Promise<Cluster> {
  const kubeConfig = loadKubeConfig(props);
  const context = kubeConfig.getCurrentContext();
  props.log?.(`$ kubectl --context ${context} version  # and the Calico Installation, istiod's image`);
  // What is found is recorded; what is missing is the run's to discover (bulkhead installs nothing here).
  const versions = await detectVersions(new KubeClient({ kubeConfig }));
  return {
    kubeConfig,
    ...(props.kubeconfig ? { kubeconfigPath: path.resolve(props.cwd, props.kubeconfig) } : {}),
    environment: { provider: 'existing', cluster: context, ...versions, reused: true },
    release: () => Promise.resolve(),
  };
}

/**
 * What stands between an existing cluster and a trustworthy run, one sentence with the fix each:
 * Calico or Istio missing, a version pair outside support, credentials that may not do what a
 * run does. Empty when the cluster is ready.
 */
export async function checkExisting(cluster: Cluster, log?: StepLog): Promise<string[]> {
  const env = cluster.environment;
  const problems: string[] = [];
  if (!env.calico) {
    problems.push(
      'no Calico found (no operator Installation, no ClusterInformation); install Calico, or run on a fresh cluster with --provider kind',
    );
  }
  if (!env.istio) {
    problems.push(
      'no istiod found in istio-system; install Istio, or run on a fresh cluster with --provider kind',
    );
  }
  if (env.kubernetes) {
    for (const [product, version] of [
      ['Istio', env.istio],
      ['Calico', env.calico],
    ] as const) {
      const why = version ? unsupportedPair(product, version, env.kubernetes) : undefined;
      if (why) problems.push(`${why}; upgrade ${product} before trusting isolation results on this cluster`);
    }
  }
  log?.(
    `$ kubectl --context ${env.cluster} auth can-i …  # one SelfSubjectAccessReview per permission a run needs`,
  );
  const missing = await missingPermissions(cluster.kubeConfig);
  if (missing.length > 0) {
    problems.push(
      `the credentials of context '${env.cluster}' may not ${missing.map(describePermission).join(', ')}; use a context whose role allows them (a run creates and deletes its own namespaces)`,
    );
  }
  return problems;
}
