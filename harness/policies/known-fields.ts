/**
 * Unknown fields in the policy kinds where a typo changes what is allowed. kubernetes-models'
 * validators accept unknown properties, but `kubectl apply` (server-side field validation,
 * Strict by default) rejects them, and a misspelt `notNamespace` in a DENY rule would otherwise
 * go unnoticed until then. Field lists from networking.k8s.io/v1 NetworkPolicy and
 * istio/api security/v1 (authorization_policy.proto, peer_authentication.proto).
 */
import { suggest, type Problem } from '../errors.js';
import type { Manifest } from '../scenario/types.js';
import type { DocPath } from '../yaml-source.js';
import { policyKind, type KnownFields } from './kinds.js';
import { describeRef, isObject, refOf } from './objects.js';

/** An object's known fields (null: any value), or a list of such objects. */
type Shape = { readonly [field: string]: Shape | ListOf | null };
interface ListOf {
  readonly list: Shape;
}

const list = (shape: Shape): ListOf => ({ list: shape });

const LABEL_SELECTOR: Shape = {
  matchLabels: null,
  matchExpressions: list({ key: null, operator: null, values: null }),
};

const NP_PEER: Shape = {
  podSelector: LABEL_SELECTOR,
  namespaceSelector: LABEL_SELECTOR,
  ipBlock: { cidr: null, except: null },
};
const NP_PORT: Shape = { protocol: null, port: null, endPort: null };

const NETWORK_POLICY: Shape = {
  podSelector: LABEL_SELECTOR,
  policyTypes: null,
  ingress: list({ from: list(NP_PEER), ports: list(NP_PORT) }),
  egress: list({ to: list(NP_PEER), ports: list(NP_PORT) }),
};

const ISTIO_SELECTOR: Shape = { matchLabels: null };

const SOURCE: Shape = Object.fromEntries(
  ['principals', 'requestPrincipals', 'namespaces', 'ipBlocks', 'remoteIpBlocks', 'serviceAccounts'].flatMap(
    (f) => [
      [f, null],
      [`not${f[0]?.toUpperCase() ?? ''}${f.slice(1)}`, null],
    ],
  ),
);

const OPERATION: Shape = Object.fromEntries(
  ['hosts', 'ports', 'methods', 'paths'].flatMap((f) => [
    [f, null],
    [`not${f[0]?.toUpperCase() ?? ''}${f.slice(1)}`, null],
  ]),
);

const AUTHORIZATION_POLICY: Shape = {
  selector: ISTIO_SELECTOR,
  targetRef: null,
  targetRefs: null,
  action: null,
  provider: null,
  rules: list({
    from: list({ source: SOURCE }),
    to: list({ operation: OPERATION }),
    when: list({ key: null, values: null, notValues: null }),
  }),
};

const PEER_AUTHENTICATION: Shape = {
  selector: ISTIO_SELECTOR,
  mtls: { mode: null },
  portLevelMtls: null,
};

/** The field list a kind's row names (kinds.ts, `knownFields`). */
const SPECS: Readonly<Record<KnownFields, Shape>> = {
  NetworkPolicy: NETWORK_POLICY,
  // Calico's StagedKubernetesNetworkPolicy: a NetworkPolicy's spec plus stagedAction (staged-schema.ts).
  StagedKubernetesNetworkPolicy: { ...NETWORK_POLICY, stagedAction: null },
  AuthorizationPolicy: AUTHORIZATION_POLICY,
  PeerAuthentication: PEER_AUTHENTICATION,
};

function walk(value: unknown, shape: Shape, path: DocPath, out: DocPath[]): void {
  if (!isObject(value)) return;
  for (const [key, v] of Object.entries(value)) {
    if (!(key in shape)) {
      out.push([...path, key]);
      continue;
    }
    const inner = shape[key];
    if (inner === null || inner === undefined) continue;
    if ('list' in inner && typeof inner.list === 'object') {
      const item = inner.list as Shape;
      if (Array.isArray(v)) {
        v.forEach((x, i) => {
          walk(x, item, [...path, key, i], out);
        });
      }
    } else {
      walk(v, inner as Shape, [...path, key], out);
    }
  }
}

/** Unknown fields under `spec` of the kinds whose row names a field list, each located at its key. */
export function unknownFields(m: Manifest): Problem[] {
  const fields = policyKind(String(m.object.apiVersion), String(m.object.kind))?.knownFields;
  if (fields === undefined) return [];
  const shape = SPECS[fields];
  const found: DocPath[] = [];
  walk(m.object.spec, shape, ['spec'], found);
  const ref = describeRef(refOf(m));
  return found.map((p) => {
    const field = String(p.at(-1));
    const candidates = Object.keys(
      p.slice(1, -1).reduce<Shape>((s, step) => {
        if (typeof step === 'number') return s;
        const next = s[step];
        if (next === null || next === undefined) return {};
        return 'list' in next && typeof next.list === 'object' ? (next.list as Shape) : (next as Shape);
      }, shape),
    );
    const hint = suggest(field, candidates);
    return m.source.problem(
      p,
      `${ref}: unknown field '${field}'${hint ? ` (did you mean '${hint}'?)` : ''}; kubectl apply rejects it`,
      { key: true },
    );
  });
}
