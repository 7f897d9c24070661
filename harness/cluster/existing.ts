/**
 * The existing provider: the cluster of a kubeconfig context, used as it is. bulkhead installs
 * nothing on it and never deletes it; it reports what it finds (Kubernetes, Calico, Istio).
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';

import { EnvironmentError, InputError, UserError } from '../errors.js';
import { readInputFileSync } from '../input-file.js';
import { KubeClient } from '../kube/client.js';
import { environmentFault, KubeApiError, type FaultOptions } from '../kube/errors.js';
import { boundExecCredentials } from '../kube/exec-credential.js';
import { connectTimeoutMs } from '../kube/request.js';
import { daemonSetRolledOut } from '../kube/rollout.js';
import { describePermission, missingPermissions } from './access.js';
import type { StepLog } from './commands.js';
import { calicoEbpfProblem } from './calico.js';
import {
  calicoApiProblem,
  calicoVersion,
  istioControlPlanes,
  istioVersion,
  kubernetesVersion,
  noDefaultIstiodProblem,
  readOptional,
} from './detect.js';
import { ingressGatewayApiProblems, INGRESS_GATEWAY_KINDS } from './gateway-api.js';
import { GATEWAY_CRD } from './gateway-api-names.js';
import { AMBIENT_DAEMONSETS, hasAmbientDataPlane } from './istio.js';
import type { Cluster } from './provider.js';
import { ambientUnsupported, AMBIENT_ISTIO_GATEWAY_API, unsupportedPair } from './versions.js';
import { messageOf } from '../values.js';
import { parseYaml } from '../yaml-source.js';

export interface ExistingProps {
  /** @default $KUBECONFIG or ~/.kube/config */
  readonly kubeconfig?: string;
  /** @default the kubeconfig's current context */
  readonly context?: string;
  readonly cwd: string;
  readonly log?: StepLog;
  /** Stops every request and credential plugin (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Where the pod's own credentials are when bulkhead runs inside a cluster. */
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The kubeconfig as kubectl would find it: `--kubeconfig`, else the files `$KUBECONFIG` names
 * (those that exist), else `~/.kube/config`, else the pod's service account. Never a silent
 * default server: client-node falls back to http://localhost:8080, which would turn "no
 * kubeconfig" into a confusing connection error.
 */
export function loadKubeConfig(
  props: Pick<ExistingProps, 'kubeconfig' | 'context' | 'cwd' | 'signal' | 'env'>,
): KubeConfig {
  const env = props.env ?? process.env;
  const files = kubeconfigFiles(props.kubeconfig, props.cwd, env);
  const kc = new KubeConfig();
  if (files.length === 0) {
    kc.loadFromCluster();
  } else {
    for (const [i, file] of files.entries()) {
      const text = kubeconfigText(file);
      try {
        const into = i === 0 ? kc : new KubeConfig();
        into.loadFromString(text);
        into.makePathsAbsolute(path.dirname(file));
        if (into !== kc) kc.mergeConfig(into, Boolean(kc.getCurrentContext()));
      } catch (error) {
        throw new UserError(`cannot read the kubeconfig: ${file}: ${firstLine(error)}`);
      }
    }
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
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new UserError('the kubeconfig names no current cluster; pass --context or --kubeconfig');
  }
  if (!URL.canParse(cluster.server)) {
    throw new UserError(
      `the server address of cluster '${cluster.name}' in the kubeconfig is not a URL: '${cluster.server}'`,
    );
  }
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
    throw new UserError(
      `the server address of cluster '${cluster.name}' in the kubeconfig is plain HTTP (${cluster.server}); API servers speak https (for a local plain-HTTP one, set insecure-skip-tls-verify: true)`,
    );
  }
  boundExecCredentials(kc, {
    timeoutMs: connectTimeoutMs(env),
    ...(props.signal ? { signal: props.signal } : {}),
    ...(files[0] ? { baseDir: path.dirname(files[0]) } : {}),
  });
  return kc;
}

/**
 * A kubeconfig's text, read as every input file is (harness/input-file.ts: a regular file of at
 * most 10 MiB, UTF-8, so a FIFO or a device named by KUBECONFIG cannot hang the read) and checked
 * to be YAML holding a mapping before client-node reads it: client-node's own errors for an empty
 * file or a list are TypeErrors, not sentences.
 */
function kubeconfigText(file: string): string {
  const fail = (why: string) => new UserError(`cannot read the kubeconfig: ${file}: ${why}`);
  let text: string;
  try {
    text = readInputFileSync(file, { describe: (why) => why });
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const [p] = error.problems;
    throw fail(p ? `${p.line > 0 ? `line ${p.line}: ` : ''}${p.message}` : error.message);
  }
  const parsed = parseYaml(text, file);
  if (!parsed.ok) {
    const [p] = parsed.problems;
    throw fail(p ? `line ${p.line}: ${p.message}` : 'not YAML');
  }
  const [doc, extra] = parsed.documents.filter((d) => d.value() !== null && d.value() !== undefined);
  const value = doc?.value();
  if (!doc || extra || typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail(
      `${doc ? 'it is not' : 'it is empty, not'} a kubeconfig (one YAML mapping with clusters, contexts and users)`,
    );
  }
  for (const key of ['clusters', 'contexts', 'users'] as const) {
    const list = (value as Record<string, unknown>)[key];
    if (list !== undefined && list !== null && !Array.isArray(list)) {
      const at = doc.locate([key]);
      throw fail(`line ${at.line}: ${key} must be a list`);
    }
  }
  return text;
}

/** The kubeconfig files to read, in order; empty for "use the pod's service account". */
function kubeconfigFiles(given: string | undefined, cwd: string, env: NodeJS.ProcessEnv): string[] {
  if (given) {
    const file = path.resolve(cwd, given);
    if (!existsSync(file)) throw new UserError(`cannot read the kubeconfig: ${file} does not exist`);
    return [file];
  }
  const hint = 'pass --kubeconfig <file> or set KUBECONFIG, or let bulkhead make a cluster (--provider kind)';
  const listed = (env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  if (listed.length > 0) {
    const found = listed.map((f) => path.resolve(cwd, f)).filter((f) => existsSync(f));
    if (found.length === 0) {
      throw new EnvironmentError(
        `no kubeconfig: KUBECONFIG names ${listed.join(path.delimiter)}, and ${listed.length === 1 ? 'that file does' : 'none of those files'} not exist`,
        { hint },
      );
    }
    return found;
  }
  const home = env.HOME ?? homedir();
  const file = path.join(home, '.kube', 'config');
  if (existsSync(file)) return [file];
  if (existsSync(IN_CLUSTER_TOKEN)) return [];
  throw new EnvironmentError(`no kubeconfig: KUBECONFIG is not set and ${file} does not exist`, {
    hint,
  });
}

function firstLine(error: unknown): string {
  const message = messageOf(error);
  return message.split('\n')[0] ?? message;
}

/** A failed request at the boundary where a command meets the cluster: one sentence, no stack. */
function asFault(error: unknown, options: FaultOptions = {}): unknown {
  return error instanceof KubeApiError ? environmentFault(error, options) : error;
}

/**
 * Connects to the cluster of a kubeconfig context: one short call first (GET /version, within
 * {@link connectTimeoutMs}, 10 s by default) to learn that the API server is there and takes
 * the credentials, then what it runs. Any failure is an {@link EnvironmentError} saying which
 * server and why.
 */
export async function connectExisting(props: ExistingProps): Promise<Cluster> {
  const kubeConfig = loadKubeConfig(props);
  const context = kubeConfig.getCurrentContext();
  props.log?.(`$ kubectl --context ${context} version  # and the Calico Installation, istiod's image`);
  const client = new KubeClient({ kubeConfig, ...(props.signal ? { signal: props.signal } : {}) });
  let kubernetes: string;
  try {
    kubernetes = await kubernetesVersion(client, { timeoutMs: connectTimeoutMs(props.env) });
  } catch (error) {
    throw asFault(error, { connect: true });
  }
  // What is found is recorded; what is missing is checkExisting's to report (bulkhead installs nothing here).
  let calico: string | undefined;
  let istio: string | undefined;
  try {
    [calico, istio] = await Promise.all([calicoVersion(client), istioVersion(client)]);
  } catch (error) {
    throw asFault(error);
  }
  return {
    kubeConfig,
    ...(props.kubeconfig ? { kubeconfigPath: path.resolve(props.cwd, props.kubeconfig) } : {}),
    environment: {
      provider: 'existing',
      cluster: context,
      kubernetes,
      ...(calico ? { calico } : {}),
      ...(istio ? { istio } : {}),
      reused: true,
    },
    release: () => Promise.resolve(),
  };
}

/**
 * Calico's bundled ambient Istio (tech preview) runs istiod, istio-cni and ztunnel in
 * `calico-system`, which is then the mesh root namespace (../shared/reference/ambient-cnp-facts.md
 * A1.9, A1.10: tigera/operator@v1.42.4 `pkg/render/istio/istio.go:64,107`), and behaves as Istio 1.29
 * (A1.11). bulkhead reads istiod (its mesh config, its sync state, its version) in istio-system
 * only, so on the bundle it would judge with defaults it never read: it refuses instead.
 */
export const CALICO_BUNDLE_REFUSAL =
  "this cluster runs Calico's bundled ambient Istio (ztunnel and istio-cni in calico-system, its mesh root namespace), and bulkhead reads istiod's mesh config, sync state and version in istio-system only, so it refuses to judge ambient traffic here rather than assume them; use upstream Istio installed with istioctl --set profile=ambient, or --provider kind";

/**
 * What the ambient data plane needs on a cluster bulkhead did not provision, each missing piece
 * one sentence with its fix (read-only): Calico not on eBPF (facts A1.8), istio-cni and ztunnel
 * rolled out in istio-system (A1.1), and the Gateway API CRDs waypoints are made of (A1.3).
 */
export async function ambientProblems(client: KubeClient, calico: boolean): Promise<string[]> {
  const problems: string[] = [];
  if (calico) {
    const ebpf = await calicoEbpfProblem(client);
    if (ebpf) problems.push(ebpf);
  }
  const { items } = await client.list({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    namespace: 'istio-system',
  });
  const states = AMBIENT_DAEMONSETS.map((n) => ({
    name: n,
    state: daemonSetRolledOut(items.find((d) => d.metadata?.name === n)),
  })).filter((d) => !d.state.complete);
  if (states.length > 0) {
    problems.push(
      `the ambient data plane is not running in istio-system (${states.map((d) => `daemonset ${d.name}: ${d.state.state}`).join('; ')}); install Istio with the ambient profile (istioctl install --set profile=ambient) and wait for both to roll out`,
    );
  }
  const crd = await readOptional(client, {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    name: GATEWAY_CRD,
  });
  if (!crd) {
    problems.push(
      `the Gateway API CRDs are not installed (no CRD ${GATEWAY_CRD}), and waypoints are Gateways; install the standard channel of the release your Istio is built against (${Object.entries(
        AMBIENT_ISTIO_GATEWAY_API,
      )
        .map(([istio, api]) => `${api} for Istio ${istio}`)
        .join(', ')})`,
    );
  }
  return problems;
}

/**
 * What {@link checkExisting} found standing between a cluster and a trustworthy run, each
 * problem one sentence with its fix. Nothing was changed on the cluster.
 */
export class ClusterNotReady extends EnvironmentError {
  override readonly name = 'ClusterNotReady';
  readonly problems: readonly string[];
  constructor(problems: readonly string[], hint: string) {
    super(problems.join('\n'), { hint });
    this.problems = problems;
  }
}

/**
 * What stands between an existing cluster and a trustworthy run, one sentence with the fix each:
 * Calico or its API server (projectcalico.org/v3, which the policies need) missing, Istio
 * missing, a version pair outside support, credentials that may not do what a run does. Only
 * reads (and SelfSubjectAccessReviews, which change nothing). Empty when the cluster is ready; a
 * request that fails is an {@link EnvironmentError}.
 */
export async function checkExisting(
  cluster: Cluster,
  log?: StepLog,
  options: {
    readonly signal?: AbortSignal;
    /** The run needs the ambient data plane: {@link ambientProblems} are checked too. */
    readonly dataplane?: 'sidecar' | 'ambient';
    /** The scenario declares ingress gateways: the Gateway API kinds they are made of must be served. */
    readonly gateways?: boolean;
  } = {},
): Promise<string[]> {
  const env = cluster.environment;
  const client = new KubeClient({
    kubeConfig: cluster.kubeConfig,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const problems: string[] = [];
  try {
    if (!env.calico) {
      problems.push(
        'no Calico found (no operator Installation, no ClusterInformation); install Calico, or run on a fresh cluster with --provider kind',
      );
    } else {
      const api = await calicoApiProblem(client);
      if (api) problems.push(api);
    }
    const bundled = options.dataplane === 'ambient' && (await hasAmbientDataPlane(client, 'calico-system'));
    if (bundled) {
      problems.push(CALICO_BUNDLE_REFUSAL);
    } else if (!env.istio) {
      problems.push(noDefaultIstiodProblem(await istioControlPlanes(client)));
    }
    if (options.dataplane === 'ambient' && !bundled) {
      log?.(
        `$ kubectl --context ${env.cluster} get installation,felixconfiguration default; kubectl get daemonsets -n istio-system; kubectl get crd ${GATEWAY_CRD}`,
      );
      problems.push(...(await ambientProblems(client, env.calico !== undefined)));
    }
    if (options.gateways) {
      log?.(
        `$ kubectl --context ${env.cluster} get crd ${INGRESS_GATEWAY_KINDS.map((k) => k.crd).join(' ')}`,
      );
      problems.push(...(await ingressGatewayApiProblems(client)));
    }
    if (env.kubernetes) {
      for (const [product, version] of [
        ['Istio', env.istio],
        ['Calico', env.calico],
      ] as const) {
        const why = version ? unsupportedPair(product, version, env.kubernetes) : undefined;
        if (why)
          problems.push(`${why}; upgrade ${product} before trusting isolation results on this cluster`);
      }
    }
    const ambientWhy =
      options.dataplane === 'ambient' && env.istio && !bundled ? ambientUnsupported(env.istio) : undefined;
    if (ambientWhy) problems.push(`${ambientWhy}; upgrade Istio before running ambient scenarios here`);
    log?.(
      `$ kubectl --context ${env.cluster} auth can-i …  # one SelfSubjectAccessReview per permission a run needs`,
    );
    const missing = await missingPermissions(client);
    if (missing.length > 0) {
      problems.push(
        `the credentials of context '${env.cluster}' may not ${missing.map(describePermission).join(', ')}; use a context whose role allows them (a run creates and deletes its own namespaces)`,
      );
    }
  } catch (error) {
    throw asFault(error);
  }
  return problems;
}
