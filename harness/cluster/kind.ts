/**
 * The kind provider: a cluster of a control plane and workers with kind's own CNI disabled and
 * Calico's pod subnet, the node image pinned by digest, then Calico and Istio installed. A
 * running cluster of the same name is reused only when asked, and refused when its nodes are
 * stopped. Logs are exported before any delete; a failed create leaves no cluster behind.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

import { UserError } from '../errors.js';
import { KubeClient } from '../kube/client.js';
import { CALICO_POD_SUBNET, calicoEbpfProblem, installCalico } from './calico.js';
import type { CommandRunner } from './commands.js';
import { detectVersions, type ClusterVersions } from './detect.js';
import { startInternet, stopInternet } from './internet.js';
import {
  fetchGatewayApi,
  gatewayApiFor,
  ingressGatewayApiProblems,
  installGatewayApi,
  type GatewayApiBundle,
} from './gateway-api.js';
import { hasAmbientDataPlane, installIstio, waitAmbientDataPlane, type InstallDataplane } from './istio.js';
import { ensureIstioctl } from './istioctl.js';
import { resolveKind, type KindBinary } from './kind-binary.js';
import { checkDocker, checkInotify, checkPortFree } from './preflight.js';
import type { Cluster, Environment, ReleaseProps } from './provider.js';
import {
  checkDataplanePlan,
  checkVersionPlan,
  nodeImageFor,
  type NodeImage,
  type VersionPlan,
} from './versions.js';

/** The label kind puts on its node containers. */
export const KIND_CLUSTER_LABEL = 'io.x-k8s.kind.cluster';
export const DEFAULT_CLUSTER_NAME = 'bulkhead';

export interface KindConfigProps {
  /** @default 2 */
  readonly workers?: number;
  /** @default CALICO_POD_SUBNET */
  readonly podSubnet?: string;
  readonly apiServerPort?: number;
}

/** kind's cluster config: no default CNI (Calico replaces it), Calico's pod subnet. */
export function kindConfig(props: KindConfigProps = {}): string {
  const workers = props.workers ?? 2;
  return stringify({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    nodes: [{ role: 'control-plane' }, ...Array.from({ length: workers }, () => ({ role: 'worker' }))],
    networking: {
      disableDefaultCNI: true,
      podSubnet: props.podSubnet ?? CALICO_POD_SUBNET,
      ...(props.apiServerPort ? { apiServerAddress: '127.0.0.1', apiServerPort: props.apiServerPort } : {}),
    },
  });
}

export interface KindProps {
  readonly runner: CommandRunner;
  readonly versions: VersionPlan;
  /** The cache folder for istioctl and Calico manifests. */
  readonly cache: string;
  /** @default 'bulkhead' */
  readonly name?: string;
  /** @default 2 */
  readonly workers?: number;
  /** Use a running cluster of the same name instead of refusing it. @default false */
  readonly reuse?: boolean;
  /** Where kind's logs go when creating or installing fails. */
  readonly logsDir: string;
  readonly apiServerPort?: number;
  readonly istioBaseUrl?: string;
  readonly calicoBaseUrl?: string;
  /**
   * The data plane Istio is installed for: `ambient` adds istio-cni, ztunnel and the Gateway API
   * CRDs (harness/cluster/istio.ts, gateway-api.ts), and keeps Calico off eBPF. @default 'sidecar'
   */
  readonly dataplane?: InstallDataplane;
  /** Mirror of https://raw.githubusercontent.com/kubernetes-sigs/gateway-api (ambient). */
  readonly gatewayApiBaseUrl?: string;
  /** The Gateway API files and their SHA-256 (ambient). @default the release pinned for the Istio minor */
  readonly gatewayApi?: GatewayApiBundle;
  /**
   * The scenario declares ingress gateways: the Gateway API CRDs are installed in sidecar mode
   * too (they hold Gateway, HTTPRoute and ReferenceGrant). @default false
   */
  readonly gateways?: boolean;
  /** Mirror of kind's releases, used when kind is missing or too old. @default GitHub releases */
  readonly kindBaseUrl?: string;
  /** @default /proc/sys/fs/inotify */
  readonly inotifyDir?: string;
  /**
   * Start bulkhead's stand-in for the internet on kind's network (harness/cluster/internet.ts),
   * running this image. @default none started
   */
  readonly internet?: { readonly image: string };
  /** For each install's wait. @default 600000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

type ClusterState = { state: 'absent' } | { state: 'running' } | { state: 'stale'; nodes: string };

/** Whether kind knows the cluster, and whether its node containers all run. */
export async function kindClusterState(
  runner: CommandRunner,
  name: string,
  kind = 'kind',
): Promise<ClusterState> {
  const clusters = await runner.run(kind, ['get', 'clusters']);
  if (!clusters.stdout.split('\n').some((line) => line.trim() === name)) return { state: 'absent' };
  const ps = await runner.run('docker', [
    'ps',
    '-a',
    '--filter',
    `label=${KIND_CLUSTER_LABEL}=${name}`,
    '--format',
    '{{.Names}}\t{{.State}}',
  ]);
  const nodes = ps.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'));
  const down = nodes.filter(([, state]) => state !== 'running');
  if (nodes.length === 0) return { state: 'stale', nodes: 'no node containers' };
  if (down.length > 0)
    return { state: 'stale', nodes: down.map(([n, s]) => `${n ?? ''} ${s ?? ''}`).join(', ') };
  return { state: 'running' };
}

/** Exports the cluster's logs, then deletes it (kind delete is idempotent). */
export async function deleteKindCluster(
  runner: CommandRunner,
  name: string,
  logsDir: string | undefined,
  kind = 'kind',
): Promise<void> {
  if (logsDir) {
    await mkdir(logsDir, { recursive: true });
    // Logs are evidence, not a precondition: a cluster that cannot export them is still deleted.
    await runner.try(kind, ['export', 'logs', logsDir, '--name', name], { timeoutMs: 300_000 });
  }
  await runner.run(kind, ['delete', 'cluster', '--name', name], { timeoutMs: 300_000 });
}

export type KindHostProps = Pick<
  KindProps,
  | 'runner'
  | 'versions'
  | 'cache'
  | 'workers'
  | 'apiServerPort'
  | 'kindBaseUrl'
  | 'inotifyDir'
  | 'signal'
  | 'dataplane'
>;

/**
 * The checks of this machine a kind cluster needs, cheapest first: the version pair (no
 * command), the Docker engine (a local socket), kind itself (on PATH, or its release fetched
 * only once Docker answered), the inotify limits and the API server port. Nothing here creates
 * anything; a caller that downloads more (istioctl for an upgrade) runs this first.
 */
export async function checkKindHost(props: KindHostProps): Promise<{ image: NodeImage; kind: KindBinary }> {
  checkDataplanePlan(props.versions, props.dataplane ?? 'sidecar');
  const image = nodeImageFor(props.versions.kubernetes);
  await checkDocker(props.runner);
  const kind = await resolveKind({
    runner: props.runner,
    image,
    cache: props.cache,
    ...(props.kindBaseUrl ? { baseUrl: props.kindBaseUrl } : {}),
    ...(props.signal ? { signal: props.signal } : {}),
  });
  // kind's "too many open files" issue comes with several nodes; one node does not need the limits.
  if ((props.workers ?? 2) > 0) await checkInotify(props.inotifyDir);
  if (props.apiServerPort) await checkPortFree(props.apiServerPort);
  return { image, kind };
}

export async function provisionKind(props: KindProps): Promise<Cluster> {
  const { runner } = props;
  const name = props.name ?? DEFAULT_CLUSTER_NAME;
  const signal = props.signal ? { signal: props.signal } : {};
  // Everything that can refuse does so before anything is created.
  const { image, kind } = await checkKindHost(props);
  const istioctl = await ensureIstioctl({
    version: props.versions.istio,
    cache: props.cache,
    log: runner.log,
    ...(props.istioBaseUrl ? { baseUrl: props.istioBaseUrl } : {}),
    ...signal,
  });
  const ambient = props.dataplane === 'ambient';
  // Downloaded and checked before the cluster exists: a mirror that serves other bytes refuses here.
  // After Istio, in either order: istiod starts its Gateway API informers when the CRDs appear
  // (harness/cluster/gateway-api.ts, INGRESS_GATEWAY_KINDS).
  const gatewayApi =
    ambient || props.gateways
      ? await fetchGatewayApi({
          bundle: props.gatewayApi ?? gatewayApiFor(props.versions.istio, ambient ? 'ambient' : 'gateways'),
          cache: props.cache,
          log: runner.log,
          ...(props.gatewayApiBaseUrl ? { baseUrl: props.gatewayApiBaseUrl } : {}),
          ...signal,
        })
      : undefined;

  const state = await kindClusterState(runner, name, kind.path);
  if (state.state !== 'absent' && !props.reuse) {
    throw new UserError(
      `a kind cluster named '${name}' already exists; pass --reuse to use it, or run \`bulkhead down --name ${name}\` first`,
    );
  }
  if (state.state === 'stale') {
    throw new UserError(
      `the kind cluster '${name}' exists but is not running (${state.nodes}); run \`bulkhead down --name ${name}\` and retry`,
    );
  }
  const reused = state.state === 'running';

  const workDir = await mkdtemp(path.join(tmpdir(), 'bulkhead-kind-'));
  const kubeconfigPath = path.join(workDir, 'kubeconfig');
  if (reused) {
    const kc = await runner.run(kind.path, ['get', 'kubeconfig', '--name', name]);
    await writeFile(kubeconfigPath, kc.stdout, { mode: 0o600 });
  } else {
    const configPath = path.join(workDir, 'kind-config.yaml');
    const config = kindConfig({
      ...(props.workers === undefined ? {} : { workers: props.workers }),
      ...(props.apiServerPort ? { apiServerPort: props.apiServerPort } : {}),
    });
    await writeFile(configPath, config);
    runner.log(`$ cat > ${configPath} <<EOF\n${config}EOF`);
    // --retain keeps failed nodes so their logs can be exported; no --wait: nodes stay NotReady
    // until Calico runs, so waiting here would only burn the timeout.
    const created = await runner.try(
      kind.path,
      [
        'create',
        'cluster',
        '--name',
        name,
        '--config',
        configPath,
        '--image',
        image.image,
        '--kubeconfig',
        kubeconfigPath,
        '--retain',
      ],
      { timeoutMs: props.timeoutMs ?? 600_000, ...signal },
    );
    if (created.failed) {
      await deleteKindCluster(runner, name, props.logsDir, kind.path);
      await rm(workDir, { recursive: true, force: true });
      // Cancelled or timed out: say so; otherwise kind's own last words are the best reason.
      const why =
        created.exitCode === undefined
          ? (created.reason ?? '')
          : created.stderr.trim().split('\n').at(-1) || (created.reason ?? '');
      throw new UserError(
        `\`kind create cluster\` failed (${why}); its logs are in ${props.logsDir} and the cluster was deleted`,
      );
    }
  }

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  kubeConfig.setCurrentContext(`kind-${name}`);
  const client = new KubeClient({ kubeConfig });
  let internet: string | undefined;
  const release = async (r: ReleaseProps) => {
    // The stand-in is bulkhead's own: it goes unless the cluster is kept.
    if (internet && !r.keep) await stopInternet(runner, name);
    if (r.keep || reused) {
      runner.log(`# kind cluster '${name}' kept; \`bulkhead down --name ${name}\` deletes it`);
    } else {
      await deleteKindCluster(runner, name, r.logsDir, kind.path);
    }
    await rm(workDir, { recursive: true, force: true });
  };

  try {
    const found: ClusterVersions = reused ? await detectVersions(client) : {};
    if (found.kubernetes) checkVersionPlan({ ...props.versions, kubernetes: found.kubernetes });
    const artifacts: Record<string, string> = { [`istioctl-${istioctl.version}`]: istioctl.archiveSha256 };
    if (found.calico !== props.versions.calico) {
      const calico = await installCalico({
        client,
        version: props.versions.calico,
        cache: props.cache,
        log: runner.log,
        ...(ambient ? { linuxDataplane: 'Iptables' as const } : {}),
        ...(props.calicoBaseUrl ? { baseUrl: props.calicoBaseUrl } : {}),
        ...(props.timeoutMs ? { timeoutMs: props.timeoutMs } : {}),
        ...signal,
      });
      for (const [file, sha] of Object.entries(calico.manifests))
        artifacts[`calico-${calico.version}/${file}`] = sha;
    }
    if (ambient) {
      // The Installation bulkhead rendered, or the one a reused cluster already had.
      runner.log(
        `$ kubectl get installation default -o jsonpath='{.spec.calicoNetwork.linuxDataplane}'  # and felixconfiguration default bpfEnabled: not eBPF`,
      );
      const ebpf = await calicoEbpfProblem(client);
      if (ebpf) throw new UserError(ebpf);
    }
    const istioMissing =
      found.istio !== props.versions.istio || (ambient && !(await hasAmbientDataPlane(client)));
    if (istioMissing) {
      await installIstio({
        client,
        runner,
        istioctl,
        kubeconfigPath,
        context: `kind-${name}`,
        ...(props.dataplane ? { dataplane: props.dataplane } : {}),
        ...(props.timeoutMs ? { timeoutMs: props.timeoutMs } : {}),
        ...signal,
      });
    }
    if (ambient && !istioMissing) {
      await waitAmbientDataPlane({
        client,
        log: runner.log,
        timeoutMs: props.timeoutMs ?? 600_000,
        ...signal,
      });
    }
    if (gatewayApi) {
      await installGatewayApi({ client, manifests: gatewayApi, log: runner.log, ...signal });
      Object.assign(artifacts, gatewayApi.artifacts);
    }
    if (props.gateways) {
      // A reused cluster's bundle may lack a kind the ingress gateways need.
      const missing = await ingressGatewayApiProblems(client);
      if (missing.length > 0) throw new UserError(missing.join('; '));
    }
    runner.log(
      `$ kubectl --context kind-${name} version -o json  # with the Calico Installation's status and istiod's image: the versions recorded`,
    );
    const versions = await detectVersions(client);
    if (props.internet) internet = await startInternet(runner, name, props.internet.image);
    const environment: Environment = {
      provider: 'kind',
      cluster: name,
      ...versions,
      // A reused cluster may run another image; the pinned one is recorded only when it matches.
      ...(!reused || versions.kubernetes === `v${image.kubernetes}` ? { nodeImage: image.image } : {}),
      kind: kind.version,
      artifacts,
      reused,
    };
    return { kubeConfig, kubeconfigPath, environment, release, ...(internet ? { internet } : {}) };
  } catch (error) {
    // A cluster this call created and could not finish is not left behind.
    if (!reused) await release({ keep: false, logsDir: props.logsDir }).catch(() => undefined);
    else await rm(workDir, { recursive: true, force: true });
    if (error instanceof UserError) throw error;
    // A timeout or an API error here is the environment's, not bulkhead's: one sentence, exit 2.
    const what = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    throw new UserError(
      reused
        ? `installing Calico and Istio on the kind cluster '${name}' failed: ${what}; the cluster was kept, inspect it or run \`bulkhead down --name ${name}\``
        : `installing Calico and Istio on the new kind cluster failed: ${what}; its logs are in ${props.logsDir} and the cluster was deleted`,
    );
  }
}
