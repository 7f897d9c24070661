/**
 * The k3s provider: one k3s node in a container (testcontainers), with flannel and k3s' own
 * network policy controller disabled so Calico takes over, then Calico and Istio as on kind.
 * Single node: nothing crosses nodes, so kind stays the default. The container goes away when
 * bulkhead releases it (or, if kept, when testcontainers' reaper sees bulkhead exit).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { getContainerRuntimeClient, Wait } from 'testcontainers';

import { UserError } from '../errors.js';
import { KubeClient } from '../kube/client.js';
import { CALICO_POD_SUBNET, installCalico } from './calico.js';
import { shellLine, type CommandRunner } from './commands.js';
import { detectVersions } from './detect.js';
import { installIstio } from './istio.js';
import { ensureIstioctl } from './istioctl.js';
import type { Cluster, ReleaseProps } from './provider.js';
import { checkVersionPlan, minorOf, type VersionPlan } from './versions.js';
import { messageOf } from '../values.js';

/** k3s images pinned by digest, per Kubernetes minor. */
export const K3S_IMAGES: Readonly<Record<string, string>> = {
  '1.35': 'rancher/k3s:v1.35.0-k3s1@sha256:10464930d9bad0c06aef9830e84cd4019c24ed44d5eab594efb7416119097248',
};

/** The k3s server arguments: no traefik, no flannel, no built-in network policy, Calico's pod subnet. */
export function k3sServerArgs(podSubnet: string = CALICO_POD_SUBNET): string[] {
  return [
    'server',
    '--disable=traefik',
    '--flannel-backend=none',
    '--disable-network-policy',
    `--cluster-cidr=${podSubnet}`,
  ];
}

export function k3sImageFor(kubernetes: string): string {
  const image = K3S_IMAGES[minorOf(kubernetes)];
  if (!image) {
    throw new UserError(
      `no pinned k3s image for Kubernetes ${kubernetes}; use --kubernetes ${Object.keys(K3S_IMAGES).join(', ')} or --provider kind`,
    );
  }
  return image;
}

export interface K3sProps {
  readonly runner: CommandRunner;
  readonly versions: VersionPlan;
  readonly cache: string;
  readonly istioBaseUrl?: string;
  readonly calicoBaseUrl?: string;
  /** @default 600000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The container runtime testcontainers would use; a UserError when none answers. */
export async function checkContainerRuntime(): Promise<void> {
  try {
    await getContainerRuntimeClient();
  } catch (error) {
    throw new UserError(
      `no Docker engine is reachable for k3s (${messageOf(error)}); start Docker or set DOCKER_HOST, then retry`,
    );
  }
}

/** The checks of this machine k3s needs, before any download: the version pair, then the runtime. */
export async function checkK3sHost(props: Pick<K3sProps, 'versions'>): Promise<string> {
  checkVersionPlan(props.versions);
  const image = k3sImageFor(props.versions.kubernetes);
  await checkContainerRuntime();
  return image;
}

export async function provisionK3s(props: K3sProps): Promise<Cluster> {
  const { runner } = props;
  const signal = props.signal ? { signal: props.signal } : {};
  const image = await checkK3sHost(props);
  const istioctl = await ensureIstioctl({
    version: props.versions.istio,
    cache: props.cache,
    log: runner.log,
    ...(props.istioBaseUrl ? { baseUrl: props.istioBaseUrl } : {}),
    ...signal,
  });
  const args = k3sServerArgs();
  runner.log(
    `$ ${shellLine(['docker', 'run', '-d', '--privileged', '--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup', '--tmpfs', '/run', '--tmpfs', '/var/run', '-p', '6443', image, ...args])}`,
  );
  // Without flannel the module's default wait line ("Node controller sync successful") never comes.
  const container: StartedK3sContainer = await new K3sContainer(image)
    .withCommand(args)
    .withWaitStrategy(Wait.forLogMessage('k3s is up and running'))
    .withStartupTimeout(props.timeoutMs ?? 600_000)
    .start();
  const workDir = await mkdtemp(path.join(tmpdir(), 'bulkhead-k3s-'));
  const kubeconfigPath = path.join(workDir, 'kubeconfig');
  const release = async (r: ReleaseProps) => {
    if (r.keep) runner.log(`# k3s container ${container.getId()} kept until bulkhead exits`);
    else {
      runner.log(`$ docker rm -f ${container.getId()}`);
      await container.stop();
    }
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    await writeFile(kubeconfigPath, container.getKubeConfig(), { mode: 0o600 });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    const client = new KubeClient({ kubeConfig });
    const calico = await installCalico({
      client,
      version: props.versions.calico,
      cache: props.cache,
      log: runner.log,
      containerIPForwarding: true,
      ...(props.calicoBaseUrl ? { baseUrl: props.calicoBaseUrl } : {}),
      ...(props.timeoutMs ? { timeoutMs: props.timeoutMs } : {}),
      ...signal,
    });
    await installIstio({
      client,
      runner,
      istioctl,
      kubeconfigPath,
      context: kubeConfig.getCurrentContext(),
      ...(props.timeoutMs ? { timeoutMs: props.timeoutMs } : {}),
      ...signal,
    });
    const artifacts: Record<string, string> = { [`istioctl-${istioctl.version}`]: istioctl.archiveSha256 };
    for (const [file, sha] of Object.entries(calico.manifests))
      artifacts[`calico-${calico.version}/${file}`] = sha;
    return {
      kubeConfig,
      kubeconfigPath,
      environment: {
        provider: 'k3s',
        cluster: container.getId().slice(0, 12),
        ...(await detectVersions(client)),
        nodeImage: image,
        artifacts,
        reused: false,
      },
      release,
    };
  } catch (error) {
    await release({ keep: false }).catch(() => undefined);
    if (error instanceof UserError) throw error;
    const what = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    throw new UserError(
      `installing Calico and Istio on the k3s container failed: ${what}; the container was removed`,
    );
  }
}
