/**
 * One entry point for `run` and `up`: the named provider yields a cluster. The same code path
 * whether a nightly job creates a fresh kind cluster or a local loop reuses one.
 */
import { UserError } from '../errors.js';
import { CommandRunner, type StepLog } from './commands.js';
import { cacheRoot } from './download.js';
import { checkExisting, ClusterNotReady, connectExisting } from './existing.js';
import { checkKindHost, DEFAULT_CLUSTER_NAME, provisionKind } from './kind.js';
import type { InstallDataplane } from './istio.js';
import type { Cluster, ProviderName } from './provider.js';
import { DEFAULT_CALICO, DEFAULT_ISTIO, DEFAULT_KUBERNETES } from './versions.js';

export interface AcquireProps {
  readonly provider: ProviderName;
  readonly log: StepLog;
  readonly cwd: string;
  /** Where cluster logs go if creating or installing fails. */
  readonly logsDir: string;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  // kind and k3s
  /** @default DEFAULT_KUBERNETES */
  readonly kubernetes?: string;
  /** @default DEFAULT_CALICO */
  readonly calico?: string;
  /** @default DEFAULT_ISTIO */
  readonly istio?: string;
  readonly istioBaseUrl?: string;
  readonly calicoBaseUrl?: string;
  readonly kindBaseUrl?: string;
  /**
   * The data plane the run needs: `ambient` installs (kind) or checks (existing) istio-cni,
   * ztunnel and the Gateway API CRDs, and refuses Calico on eBPF. @default 'sidecar'
   */
  readonly dataplane?: InstallDataplane;
  /** Mirror of https://raw.githubusercontent.com/kubernetes-sigs/gateway-api (kind, ambient). */
  readonly gatewayApiBaseUrl?: string;
  /**
   * The scenario declares ingress gateways: kind installs the Gateway API CRDs in sidecar mode too,
   * existing checks they are served. @default false
   */
  readonly gateways?: boolean;
  readonly timeoutMs?: number;
  // kind
  /** @default 'bulkhead' */
  readonly name?: string;
  readonly workers?: number;
  readonly reuse?: boolean;
  readonly apiServerPort?: number;
  readonly inotifyDir?: string;
  /** The image of the internet stand-in on kind (harness/cluster/internet.ts). @default none started */
  readonly internetImage?: string;
  // existing
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Stops provisioning, and for `existing` the connection and its checks (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/**
 * The cluster of a run. `existing` connects (a short first call, see connectExisting) and runs
 * the read-only checks of `bulkhead up --provider existing` before the run touches anything:
 * a problem there is a {@link ClusterNotReady}, exit 2, with nothing created.
 */
export async function acquireCluster(props: AcquireProps): Promise<Cluster> {
  if (props.provider === 'existing') {
    const signal = props.signal ? { signal: props.signal } : {};
    const cluster = await connectExisting({
      cwd: props.cwd,
      log: props.log,
      ...(props.env ? { env: props.env } : {}),
      ...(props.kubeconfig ? { kubeconfig: props.kubeconfig } : {}),
      ...(props.context ? { context: props.context } : {}),
      ...signal,
    });
    const problems = await checkExisting(cluster, props.log, {
      ...signal,
      ...(props.dataplane ? { dataplane: props.dataplane } : {}),
      ...(props.gateways ? { gateways: true } : {}),
    });
    if (problems.length > 0) {
      throw new ClusterNotReady(
        problems,
        `nothing was created on context '${cluster.environment.cluster}'; bulkhead up --provider existing repeats these checks`,
      );
    }
    return cluster;
  }
  const common = provisionCommon(props);
  if (props.provider === 'k3s') {
    refuseK3sAmbient(props);
    refuseK3sGateways(props);
    return (await k3s()).provisionK3s(common);
  }
  return provisionKind({
    ...common,
    ...kindHost(props),
    ...(props.gatewayApiBaseUrl ? { gatewayApiBaseUrl: props.gatewayApiBaseUrl } : {}),
    ...(props.gateways ? { gateways: true } : {}),
    name: props.name ?? DEFAULT_CLUSTER_NAME,
    logsDir: props.logsDir,
    reuse: props.reuse ?? false,
  });
}

function provisionCommon(props: AcquireProps) {
  const env = props.env ?? process.env;
  return {
    runner: new CommandRunner({ log: props.log, env }),
    versions: {
      kubernetes: props.kubernetes ?? DEFAULT_KUBERNETES,
      calico: props.calico ?? DEFAULT_CALICO,
      istio: props.istio ?? DEFAULT_ISTIO,
    },
    cache: cacheRoot(env),
    ...(props.istioBaseUrl ? { istioBaseUrl: props.istioBaseUrl } : {}),
    ...(props.calicoBaseUrl ? { calicoBaseUrl: props.calicoBaseUrl } : {}),
    ...(props.timeoutMs ? { timeoutMs: props.timeoutMs } : {}),
    ...(props.signal ? { signal: props.signal } : {}),
  };
}

/** The k3s provider installs Istio for sidecars only; ambient provisioning is built for kind. */
function refuseK3sAmbient(props: AcquireProps): void {
  if (props.dataplane === 'ambient')
    throw new UserError(
      'the k3s provider does not provision the ambient data plane (istio-cni, ztunnel, Gateway API CRDs); use --provider kind, or --provider existing on a cluster that has it',
    );
}

/** The k3s provider installs no Gateway API CRDs; ingress gateways are provisioned on kind. */
function refuseK3sGateways(props: AcquireProps): void {
  if (props.gateways)
    throw new UserError(
      "the k3s provider does not install the Gateway API CRDs the scenario's ingress gateways need; use --provider kind, or --provider existing on a cluster that has them",
    );
}

function kindHost(props: AcquireProps) {
  return {
    ...(props.dataplane ? { dataplane: props.dataplane } : {}),
    ...(props.kindBaseUrl ? { kindBaseUrl: props.kindBaseUrl } : {}),
    ...(props.workers === undefined ? {} : { workers: props.workers }),
    ...(props.apiServerPort ? { apiServerPort: props.apiServerPort } : {}),
    ...(props.inotifyDir ? { inotifyDir: props.inotifyDir } : {}),
    ...(props.internetImage ? { internet: { image: props.internetImage } } : {}),
  };
}

/**
 * The provider's checks of this machine alone (versions, Docker, kind), for a caller that must
 * download something before it acquires (upgrade-check's second istioctl): they refuse first,
 * and nothing is resolved or dialled outside this machine until they pass. `existing` has none.
 */
/**
 * The k3s provider, loaded only when asked for: it brings testcontainers, whose file lock
 * (proper-lockfile) installs a process-wide SIGINT handler as it loads, and costs start-up time
 * that kind and existing clusters do not need.
 */
function k3s(): Promise<typeof import('./k3s.js')> {
  return import('./k3s.js');
}

export async function checkHost(props: AcquireProps): Promise<void> {
  if (props.provider === 'existing') return;
  const common = provisionCommon(props);
  if (props.provider === 'k3s') {
    refuseK3sAmbient(props);
    refuseK3sGateways(props);
    await (await k3s()).checkK3sHost(common);
  } else await checkKindHost({ ...common, ...kindHost(props) });
}
