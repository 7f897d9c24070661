/**
 * Calico through the Tigera operator of a pinned release: its CRDs and operator manifests
 * (downloaded once and cached), an Installation whose IP pool is the cluster's pod subnet, and
 * the API server (so projectcalico.org/v3 policies can be applied). Everything goes through
 * server-side apply; then we wait until the operator reports Calico and its API server
 * Available and every node Ready (nodes stay NotReady until a CNI runs).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

import { CALICO_EBPF_AMBIENT_WHY, calicoEbpfFields } from '../calico-dataplane.js';
import { UserError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { waitFor } from '../kube/wait.js';
import type { StepLog } from './commands.js';
import { readOptional } from './detect.js';
import { calicoHasClusterNetworkPolicy } from './versions.js';
import { sha256 } from '../values.js';

export const CALICO_MANIFESTS = 'https://raw.githubusercontent.com/projectcalico/calico';
/** The operator's own manifests, in the order they must be applied (CRDs first). */
export const CALICO_FILES = ['operator-crds.yaml', 'tigera-operator.yaml'] as const;
/** Calico's default pool, which the kind config uses as its pod subnet. */
export const CALICO_POD_SUBNET = '192.168.0.0/16';

export interface CalicoProps {
  readonly client: KubeClient;
  readonly version: string;
  readonly cache: string;
  readonly log: StepLog;
  /** @default CALICO_POD_SUBNET */
  readonly podSubnet?: string;
  /** Let pods forward IP (k3s' custom-CNI guidance asks for it). @default false */
  readonly containerIPForwarding?: boolean;
  /**
   * Set the Installation's `linuxDataplane` explicitly (for ambient: `Iptables`, since Calico
   * policy is not enforced on ambient traffic under eBPF). @default the operator's default
   */
  readonly linuxDataplane?: 'Iptables';
  /** Where `<version>/manifests/<file>` are fetched from. @default raw.githubusercontent.com */
  readonly baseUrl?: string;
  /** @default 600000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface CalicoInstall {
  readonly version: string;
  /** SHA-256 of each manifest applied, for the record. */
  readonly manifests: Readonly<Record<string, string>>;
}

export async function installCalico(props: CalicoProps): Promise<CalicoInstall> {
  const base = (props.baseUrl ?? CALICO_MANIFESTS).replace(/\/+$/, '');
  const manifests: Record<string, string> = {};
  for (const file of CALICO_FILES) {
    const url = `${base}/${props.version}/manifests/${file}`;
    const text = await cachedManifest(url, path.join(props.cache, 'calico', props.version, file), props);
    manifests[file] = sha256(text);
    const objects = parseManifests(text, url);
    props.log(`$ kubectl apply --server-side --force-conflicts --field-manager=bulkhead -f ${url}`);
    await props.client.applyAll(objects);
    if (file === 'operator-crds.yaml') {
      if (calicoHasClusterNetworkPolicy(props.version))
        checkClusterNetworkPolicyCrd(props.version, objects, url);
      await waitCrdsEstablished(props, objects);
    }
  }
  const resources = calicoResources(
    props.podSubnet ?? CALICO_POD_SUBNET,
    props.containerIPForwarding ?? false,
    props.linuxDataplane,
  );
  props.log(
    `$ kubectl apply --server-side --field-manager=bulkhead -f - <<EOF\n${resources.map((r) => JSON.stringify(r)).join('\n---\n')}\nEOF`,
  );
  await props.client.applyAll(resources);
  await waitCalicoAvailable(props);
  return { version: props.version, manifests };
}

/** The Installation (IP pool = pod subnet) and the Calico API server. */
export function calicoResources(
  podSubnet: string,
  containerIPForwarding = false,
  linuxDataplane?: 'Iptables',
): KubernetesObject[] {
  return [
    {
      apiVersion: 'operator.tigera.io/v1',
      kind: 'Installation',
      metadata: { name: 'default' },
      spec: {
        calicoNetwork: {
          ...(linuxDataplane ? { linuxDataplane } : {}),
          ...(containerIPForwarding ? { containerIPForwarding: 'Enabled' } : {}),
          ipPools: [
            {
              name: 'default-ipv4-ippool',
              blockSize: 26,
              cidr: podSubnet,
              encapsulation: 'VXLANCrossSubnet',
              natOutgoing: 'Enabled',
              nodeSelector: 'all()',
            },
          ],
        },
      },
    } as KubernetesObject,
    {
      apiVersion: 'operator.tigera.io/v1',
      kind: 'APIServer',
      metadata: { name: 'default' },
      spec: {},
    } as KubernetesObject,
  ];
}

async function cachedManifest(url: string, file: string, props: CalicoProps): Promise<string> {
  if (existsSync(file)) {
    props.log(`# ${path.basename(file)} from the cache: ${file}`);
    return readFile(file, 'utf8');
  }
  props.log(`$ curl -fsSLo ${path.basename(file)} ${url}`);
  let response: Response;
  try {
    response = await fetch(url, props.signal ? { signal: props.signal } : {});
  } catch (error) {
    const cause =
      error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new UserError(`cannot download ${url} (${cause}); check the network or --calico-base-url`);
  }
  if (!response.ok) {
    throw new UserError(
      `cannot download ${url}: HTTP ${String(response.status)}; check --calico (a release tag like v3.31.2) or --calico-base-url`,
    );
  }
  const text = await response.text();
  parseManifests(text, url); // refuse to cache what does not parse
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.partial`, text);
  await rename(`${file}.partial`, file);
  return text;
}

export function parseManifests(text: string, source: string): KubernetesObject[] {
  const objects: KubernetesObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new UserError(`${source} is not valid YAML (${doc.errors[0]?.message ?? ''}); check the URL`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const object = value as KubernetesObject;
    if (typeof object !== 'object' || !object.apiVersion || !object.kind) {
      throw new UserError(`${source} holds a document without apiVersion and kind; check the URL`);
    }
    objects.push(object);
  }
  if (objects.length === 0) throw new UserError(`${source} holds no Kubernetes objects; check the URL`);
  return objects;
}

function conditionTrue(object: unknown, type: string): boolean {
  const conditions = (object as { status?: { conditions?: { type?: string; status?: string }[] } }).status
    ?.conditions;
  return (conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

async function waitCrdsEstablished(props: CalicoProps, crds: readonly KubernetesObject[]): Promise<void> {
  const names = new Set(
    crds.filter((c) => c.kind === 'CustomResourceDefinition').map((c) => c.metadata?.name ?? ''),
  );
  props.log(`$ kubectl wait --for=condition=Established crd --all --timeout=60s`);
  await waitFor(props.client, {
    selection: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' },
    until: (all) =>
      [...names].every((n) => all.some((c) => c.metadata?.name === n && conditionTrue(c, 'Established'))),
    timeoutMs: 60_000,
    description: `${String(names.size)} Calico CRDs Established`,
    ...(props.signal ? { signal: props.signal } : {}),
  });
}

/** The ClusterNetworkPolicy CRD, as Calico 3.32's operator CRDs carry it (network-policy-api v0.2.0). */
export const CNP_CRD = {
  name: 'clusternetworkpolicies.policy.networking.k8s.io',
  bundleVersion: 'v0.2.0',
  channel: 'standard',
} as const;

/**
 * From Calico 3.32 the operator's CRDs include ClusterNetworkPolicy's (calico@v3.32.1
 * manifests/operator-crds.yaml, standard channel, bundle v0.2.0: reference/ambient-cnp-facts.md
 * B5.4), so it is installed with them and never on its own (a second copy, or the experimental
 * channel over it, would switch channels). Here: it is among them, in the channel the model and
 * the schema checks assume; the Established wait that follows covers it like every other CRD.
 */
export function checkClusterNetworkPolicyCrd(
  version: string,
  objects: readonly KubernetesObject[],
  url: string,
): void {
  const crd = objects.find((o) => o.kind === 'CustomResourceDefinition' && o.metadata?.name === CNP_CRD.name);
  const annotations = crd?.metadata?.annotations ?? {};
  const bundle = annotations['policy.networking.k8s.io/bundle-version'];
  const channel = annotations['policy.networking.k8s.io/channel'];
  if (!crd || bundle !== CNP_CRD.bundleVersion || channel !== CNP_CRD.channel) {
    throw new UserError(
      `Calico ${version}'s ${url} ${crd ? `carries ${CNP_CRD.name} at bundle ${bundle ?? '?'}, channel ${channel ?? '?'}` : `lacks ${CNP_CRD.name}`}; bulkhead expects bundle ${CNP_CRD.bundleVersion}, channel ${CNP_CRD.channel}, as Calico 3.32 ships it`,
    );
  }
}

/** Calico's components are ready when tigerastatus calico and apiserver say Available. */
export const CALICO_COMPONENTS = ['calico', 'apiserver'] as const;

async function waitCalicoAvailable(props: CalicoProps): Promise<void> {
  const timeoutMs = props.timeoutMs ?? 600_000;
  const seconds = Math.round(timeoutMs / 1000);
  props.log(
    `$ kubectl wait --for=condition=Available ${CALICO_COMPONENTS.map((c) => `tigerastatus/${c}`).join(' ')} --timeout=${String(seconds)}s`,
  );
  await waitFor(props.client, {
    selection: { apiVersion: 'operator.tigera.io/v1', kind: 'TigeraStatus' },
    until: (all) =>
      CALICO_COMPONENTS.every((n) =>
        all.some((s) => s.metadata?.name === n && conditionTrue(s, 'Available')),
      ),
    timeoutMs,
    description: 'tigerastatus calico and apiserver Available',
    describeState: (all) =>
      all
        .map(
          (s) =>
            `${s.metadata?.name ?? '?'}: ${conditionTrue(s, 'Available') ? 'Available' : 'not Available'}`,
        )
        .join(', ') || 'no tigerastatus yet',
    ...(props.signal ? { signal: props.signal } : {}),
  });
  props.log(`$ kubectl wait --for=condition=Ready nodes --all --timeout=${String(seconds)}s`);
  await waitFor(props.client, {
    selection: { apiVersion: 'v1', kind: 'Node' },
    until: (nodes) => nodes.length > 0 && nodes.every((n) => conditionTrue(n, 'Ready')),
    timeoutMs,
    description: 'every node Ready',
    describeState: (nodes) =>
      `${String(nodes.filter((n) => conditionTrue(n, 'Ready')).length)}/${String(nodes.length)} nodes Ready`,
    ...(props.signal ? { signal: props.signal } : {}),
  });
}

/**
 * Why Calico's dataplane rules ambient out, or undefined when it does not: the eBPF dataplane
 * (which fields mean it, and why: harness/calico-dataplane.ts). Read-only: the operator's
 * Installation `default` and the FelixConfiguration `default` (through Calico's API server, else
 * its CRD). Objects or kinds that are not there say nothing; any other failure is thrown.
 */
export async function calicoEbpfProblem(client: KubeClient): Promise<string | undefined> {
  const found: string[] = [];
  const installation = await readOptional(client, {
    apiVersion: 'operator.tigera.io/v1',
    kind: 'Installation',
    name: 'default',
  });
  for (const f of installation ? calicoEbpfFields(installation) : [])
    found.push(`Installation default has ${f.path.join('.')}: ${f.setting.split(': ')[1] ?? ''}`);
  for (const apiVersion of ['projectcalico.org/v3', 'crd.projectcalico.org/v1']) {
    const felix = await readOptional(client, { apiVersion, kind: 'FelixConfiguration', name: 'default' });
    if (!felix) continue;
    for (const f of calicoEbpfFields(felix))
      found.push(
        `FelixConfiguration default (${apiVersion}) has ${f.path.join('.')}: ${f.setting.split(': ')[1] ?? ''}`,
      );
    break;
  }
  if (found.length === 0) return undefined;
  return `Calico runs the eBPF dataplane (${found.join('; ')}), and ${CALICO_EBPF_AMBIENT_WHY}; run ambient scenarios on a Calico with linuxDataplane Iptables or Nftables`;
}
