/**
 * The Gateway API CRDs ambient waypoints need (a waypoint is a `Gateway`), from a pinned release
 * of kubernetes-sigs/gateway-api, every file checked against a SHA-256 bulkhead pins.
 * Facts (../shared/reference/ambient-cnp-facts.md):
 * - A1.3: Istio does not install these CRDs; they must exist before a waypoint is applied.
 * - A1.4: Istio 1.29 is built against gateway-api v1.4.1, Istio 1.30 against v1.5.1: pin those.
 * - A1.5: one channel per cluster (standard here), never a downgrade; v1.5.x standard also holds
 *   the `safe-upgrades` ValidatingAdmissionPolicy that refuses experimental CRDs over standard.
 * - A1.6: the release assets carry the build year in their header, so their hash cannot be
 *   derived from git; the per-file raw URLs at the tag serve the git blobs, whose SHA-256 are
 *   pinned below. Each value was checked offline against `git show <tag>:config/crd/standard/<file>`
 *   of kubernetes-sigs/gateway-api at v1.4.1 (477d172e) and v1.5.1 (e7677b70), and equals the
 *   facts' table. After applying, every CRD must carry the tag as
 *   `gateway.networking.k8s.io/bundle-version` and `standard` as `…/channel` (the policy file's own
 *   objects are stamped `v1.5.0-dev` at v1.5.1, so only CRDs are held to it).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { KubernetesObject } from '@kubernetes/client-node';

import { UserError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import { waitFor } from '../kube/wait.js';
import { sha256 } from '../values.js';
import { parseManifests } from './calico.js';
import type { StepLog } from './commands.js';
import { downloadPinned } from './download.js';
import { GATEWAY_API_GROUP, GATEWAY_CRD } from './gateway-api-names.js';
import { AMBIENT_ISTIO_GATEWAY_API, minorOf } from './versions.js';

export const GATEWAY_API_RAW = 'https://raw.githubusercontent.com/kubernetes-sigs/gateway-api';
export const BUNDLE_VERSION_ANNOTATION = 'gateway.networking.k8s.io/bundle-version';
export const CHANNEL_ANNOTATION = 'gateway.networking.k8s.io/channel';
export const GATEWAY_API_CHANNEL = 'standard';

export interface GatewayApiFile {
  /** The file under `config/crd/standard/` at the tag. */
  readonly name: string;
  readonly sha256: string;
}

export interface GatewayApiBundle {
  /** The release tag, `v1.5.1`. */
  readonly version: string;
  /** In apply order: CRDs, then the admission policy that guards them. */
  readonly files: readonly GatewayApiFile[];
}

const file = (what: string, sha: string): GatewayApiFile => ({
  name: `gateway.networking.k8s.io_${what}.yaml`,
  sha256: sha,
});

/** The standard channel of each pinned release (facts A1.6). */
export const GATEWAY_API_BUNDLES: Readonly<Record<string, GatewayApiBundle>> = {
  'v1.4.1': {
    version: 'v1.4.1',
    files: [
      file('gatewayclasses', '7d958ad3965ea4a4996616846d9ecaf1fededbf9351b9752b8b85973936ae8c8'),
      file('gateways', 'a02ea425fc901f197b668c9ddd56375e1f6896994914c6e6b9b4fdb85cf3ba6e'),
      file('httproutes', '98c6777c22309d319292e9c288ee632006c9ffdd4272383d6f9dffa3fbccaf14'),
      file('grpcroutes', 'b72068b42cb32051ca609e5a8dfefb16904d164abe2e71d9f3c776fae41c4dab'),
      file('referencegrants', 'd74fc2f8e90094f4c4d6dc13a2d720011a40e30e5640b3e2a2051fac820f6584'),
      file('backendtlspolicies', 'f94f34b0c19cab6c25b53a6e672d9a684116a4e52193531fe2abcea20b51574f'),
    ],
  },
  'v1.5.1': {
    version: 'v1.5.1',
    files: [
      file('gatewayclasses', '234ad4b2757ee1b3596a4187bb98df071c5bbdd9e1806f692f2dbf8387e6bef4'),
      file('gateways', '7416e8300eb4d8c0a71a23445609075bbacbe8bc80104584b019cfe1ebe77c31'),
      file('httproutes', '682203b109baecb18d38073a578f7bc2c17d22fe9b0c27bf030850abe014c370'),
      file('grpcroutes', '979f4125d44d3df24659ba00d1d04ff8e76c45423193e8aae82dd5810d7827df'),
      file('referencegrants', 'a8902c486eed0b7339f5bb8a476ccaba0918eb038048402bdc01cbb69b0fbb51'),
      file('backendtlspolicies', '9b8818172153d72f9c84032db0be0a4a657277d13f5bbc22226ad9481ff57971'),
      file('tlsroutes', '818e4827c469a40e2527a2851591e656782c50fea8dd44812c900d219da09345'),
      file('listenersets', '9221468d19fdfbb0026113b1ef64abac64f27607975aff2410361b8b38f0e0bb'),
      file('vap_safeupgrades', '981a4da92706cb567c051e006ff229429947f054b90cd0719c297abe14f958a1'),
    ],
  },
};

/**
 * The pinned bundle for an Istio version; a UserError when the facts pin none for its minor.
 * `why` says what needs the CRDs: `ambient` (waypoints) or `gateways` (a scenario's ingress gateways).
 */
export function gatewayApiFor(istio: string, why: 'ambient' | 'gateways' = 'ambient'): GatewayApiBundle {
  const minor = minorOf(istio);
  const bundle = GATEWAY_API_BUNDLES[AMBIENT_ISTIO_GATEWAY_API[minor] ?? ''];
  if (!bundle) {
    const who = why === 'ambient' ? 'ambient needs' : "the scenario's ingress gateways need";
    const fix = why === 'ambient' ? 'for --dataplane ambient' : 'for a scenario with spec.gateways';
    throw new UserError(
      `${who} the Gateway API CRDs of the release Istio ${istio} is built against, and bulkhead pins them only for Istio ${Object.keys(AMBIENT_ISTIO_GATEWAY_API).join(' and ')} (gateway-api ${Object.values(AMBIENT_ISTIO_GATEWAY_API).join(', ')}); use --istio with one of those ${fix}`,
    );
  }
  return bundle;
}

/**
 * The Gateway API kinds a run with ingress gateways writes, at the versions it writes them (and
 * istiod watches: istio@1.30.3 and 1.29 `pkg/config/schema/gvr/resources.gen.go:33,40,55`, HTTPRoute
 * and Gateway v1, ReferenceGrant v1beta1; both pinned bundles serve these, the files' `served: true`).
 * istiod needs no restart when they appear after it started: it watches Gateway API kinds through
 * delayed informers that start once the CRD exists (`pilot/pkg/config/kube/crdclient/client.go:409-417`
 * NewDelayedInformer, `pkg/kube/kclient/crdwatcher.go:225-262` WaitForCRD/KnownOrCallback, and
 * the gateway controller is built with `CrdWatcher().WaitForCRD`, `pilot/pkg/bootstrap/
 * configcontroller.go:191-196`), and PILOT_ENABLE_GATEWAY_API defaults to true
 * (`pilot/pkg/features/experimental.go:137`, the same at 1.29.6).
 */
export const INGRESS_GATEWAY_KINDS: readonly { readonly crd: string; readonly version: string }[] = [
  { crd: GATEWAY_CRD, version: 'v1' },
  { crd: `httproutes.${GATEWAY_API_GROUP}`, version: 'v1' },
  { crd: `referencegrants.${GATEWAY_API_GROUP}`, version: 'v1beta1' },
];

interface CrdServing {
  spec?: { versions?: { name?: string; served?: boolean }[] };
  status?: { conditions?: { type?: string; status?: string }[] };
}

/**
 * What keeps a cluster from holding a run's ingress gateways, one sentence with its fix each
 * (read-only): each CRD of {@link INGRESS_GATEWAY_KINDS} present, Established, and serving the
 * version the run writes. Empty when all are.
 */
export async function ingressGatewayApiProblems(client: KubeClient): Promise<string[]> {
  const problems: string[] = [];
  for (const { crd: name, version } of INGRESS_GATEWAY_KINDS) {
    let crd: KubernetesObject | undefined;
    try {
      crd = await client.read({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name,
      });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const fix = `install the Gateway API standard channel of the release your Istio is built against (${Object.entries(
      AMBIENT_ISTIO_GATEWAY_API,
    )
      .map(([istio, api]) => `${api} for Istio ${istio}`)
      .join(', ')})`;
    if (!crd) {
      problems.push(`the scenario declares ingress gateways, and the cluster has no CRD ${name}; ${fix}`);
      continue;
    }
    const serving = crd as CrdServing;
    const served = (serving.spec?.versions ?? []).some((v) => v.name === version && v.served === true);
    if (!served) {
      const have = (serving.spec?.versions ?? []).filter((v) => v.served).map((v) => v.name ?? '?');
      problems.push(
        `the CRD ${name} does not serve ${version} (served: ${have.join(', ') || 'none'}), which bulkhead writes and istiod watches; ${fix}`,
      );
    } else if (!established(crd)) {
      problems.push(`the CRD ${name} is not Established; check it with kubectl describe crd ${name}`);
    }
  }
  return problems;
}

export interface GatewayApiManifests {
  readonly version: string;
  /** The objects of every file, in apply order. */
  readonly objects: readonly KubernetesObject[];
  /** SHA-256 of each file, for the record: `gateway-api-<v>/<file>`. */
  readonly artifacts: Readonly<Record<string, string>>;
}

export interface FetchGatewayApiProps {
  readonly bundle: GatewayApiBundle;
  readonly cache: string;
  readonly log: StepLog;
  /** Where `<tag>/config/crd/standard/<file>` are fetched from. @default raw.githubusercontent.com */
  readonly baseUrl?: string;
  readonly signal?: AbortSignal;
}

/**
 * Every file of the bundle, from the cache (checked again) or downloaded and checked against its
 * pin, then parsed; each CRD must carry the bundle's version and the standard channel. Nothing
 * touches a cluster: callers fetch before they create one, so a bad download refuses early.
 */
export async function fetchGatewayApi(props: FetchGatewayApiProps): Promise<GatewayApiManifests> {
  const { bundle } = props;
  const base = (props.baseUrl ?? GATEWAY_API_RAW).replace(/\/+$/, '');
  const objects: KubernetesObject[] = [];
  const artifacts: Record<string, string> = {};
  for (const f of bundle.files) {
    const url = `${base}/${bundle.version}/config/crd/standard/${f.name}`;
    const cached = path.join(props.cache, 'gateway-api', bundle.version, f.name);
    let text: string | undefined;
    if (existsSync(cached)) {
      const bytes = await readFile(cached);
      if (sha256(bytes) === f.sha256) {
        props.log(`# ${f.name} from the cache: ${cached}`);
        text = bytes.toString('utf8');
      }
    }
    if (text === undefined) {
      const { bytes } = await downloadPinned({
        url,
        sha256: f.sha256,
        log: props.log,
        mirrorFlag: '--gateway-api-base-url',
        ...(props.signal ? { signal: props.signal } : {}),
      });
      text = bytes.toString('utf8');
      const parsed = parseManifests(text, url); // refuse to cache what does not parse
      await mkdir(path.dirname(cached), { recursive: true });
      await writeFile(`${cached}.partial`, bytes);
      await rename(`${cached}.partial`, cached);
      objects.push(...checkedObjects(parsed, bundle.version, url));
    } else {
      objects.push(...checkedObjects(parseManifests(text, url), bundle.version, url));
    }
    artifacts[`gateway-api-${bundle.version}/${f.name}`] = f.sha256;
  }
  return { version: bundle.version, objects, artifacts };
}

function checkedObjects(objects: KubernetesObject[], version: string, url: string): KubernetesObject[] {
  for (const o of objects) {
    if (o.kind !== 'CustomResourceDefinition') continue;
    const problem = bundleProblem(o, version);
    if (problem) throw new UserError(`${url}: ${problem}; check --gateway-api-base-url`);
  }
  return objects;
}

/** Why a stored or downloaded Gateway API CRD is not the pinned bundle's, or undefined. */
export function bundleProblem(crd: KubernetesObject, version: string): string | undefined {
  const annotations = crd.metadata?.annotations ?? {};
  const bundle = annotations[BUNDLE_VERSION_ANNOTATION];
  const channel = annotations[CHANNEL_ANNOTATION];
  if (bundle === version && channel === GATEWAY_API_CHANNEL) return undefined;
  return `CRD ${crd.metadata?.name ?? '?'} is at bundle ${bundle ?? 'none'}, channel ${channel ?? 'none'}, not ${version} ${GATEWAY_API_CHANNEL}`;
}

export interface InstallGatewayApiProps {
  readonly client: KubeClient;
  readonly manifests: GatewayApiManifests;
  readonly log: StepLog;
  /** @default 60000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Applies the bundle unless the cluster already has it (facts A1.3's "get crd || apply"), waits
 * for its CRDs Established and checks them as stored. A cluster with other Gateway API CRDs is
 * refused, not changed: replacing them would be a downgrade or a channel switch (facts A1.5), and
 * they may serve more than bulkhead.
 */
export async function installGatewayApi(props: InstallGatewayApiProps): Promise<'installed' | 'present'> {
  const { client, manifests } = props;
  props.log(`$ kubectl get crd ${GATEWAY_CRD} -o jsonpath='{.metadata.annotations}'`);
  let existing: KubernetesObject | undefined;
  try {
    existing = await client.read({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: GATEWAY_CRD,
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (existing) {
    const problem = bundleProblem(existing, manifests.version);
    if (!problem) {
      props.log(`# Gateway API ${manifests.version} (standard) CRDs already installed`);
      return 'present';
    }
    throw new UserError(
      `the cluster already has Gateway API CRDs (${problem}); bulkhead does not replace them (a downgrade or channel switch, refused by gateway-api's safe-upgrades policy from v1.5): remove them or use a fresh cluster`,
    );
  }
  props.log(
    `$ kubectl apply --server-side --field-manager=bulkhead -f ${GATEWAY_API_RAW}/${manifests.version}/config/crd/standard/  # each file checked against its pinned SHA-256`,
  );
  await client.applyAll(manifests.objects);
  const names = manifests.objects
    .filter((o) => o.kind === 'CustomResourceDefinition')
    .map((o) => o.metadata?.name ?? '');
  const timeoutMs = props.timeoutMs ?? 60_000;
  props.log(
    `$ kubectl wait --for=condition=Established ${names.map((n) => `crd/${n}`).join(' ')} --timeout=${String(Math.round(timeoutMs / 1000))}s`,
  );
  const stored = await waitFor(client, {
    selection: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' },
    until: (all) => names.every((n) => all.some((c) => c.metadata?.name === n && established(c))),
    timeoutMs,
    description: `${String(names.length)} Gateway API CRDs Established`,
    describeState: (all) =>
      `Established: ${String(names.filter((n) => all.some((c) => c.metadata?.name === n && established(c))).length)}/${String(names.length)}`,
    ...(props.signal ? { signal: props.signal } : {}),
  });
  for (const n of names) {
    const crd = stored.find((c) => c.metadata?.name === n);
    const problem = crd ? bundleProblem(crd, manifests.version) : `CRD ${n} is missing`;
    if (problem)
      throw new UserError(
        `after applying Gateway API ${manifests.version}, ${problem}; an admission webhook changed it`,
      );
  }
  return 'installed';
}

function established(object: KubernetesObject): boolean {
  const conditions = (object as { status?: { conditions?: { type?: string; status?: string }[] } }).status
    ?.conditions;
  return (conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
}
