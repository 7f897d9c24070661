/**
 * Sorting policy manifests by what they do: which layer evaluates them, which cannot change
 * the attempts (a ConfigMap), and which change traffic in ways the model does not evaluate (an
 * EnvoyFilter, a DestinationRule). The last kind turn the predictions they may touch into
 * `unknown`, naming the object, instead of being silently ignored. Which kind is which is the
 * table of policy kinds (policies/kinds.ts); here each of its readings becomes code.
 */
import { readingOf } from '../policies/kinds.js';
import { GATEWAY_NAME_LABEL } from '../scenario/gateways.js';
import { adminPolicyEffect, isAdminPolicyKind } from './admin-network-policy.js';
import type { PolicyManifest as Manifest } from './types.js';
import { rbacPlacement } from './envoyfilter.js';
import { compileLua, type LuaProgram } from './lua.js';
import type { Endpoint } from './cluster.js';
import { compileMatchLabels, type LabelMatcher } from './labels.js';
import { where } from './networkpolicy.js';
import { isObj, objectName, type Obj } from './read.js';
import type { AblatableLayer } from './types.js';

/** An object the model does not evaluate, and the attempts it may touch. */
export interface Unmodeled {
  readonly title: string;
  readonly why: string;
  /** Which side of a mesh connection it acts on, or the whole network / everything. */
  readonly scope: 'client' | 'server' | 'network' | 'api' | 'all';
  /** For client/server scope: whether it applies to this workload's sidecar. */
  readonly applies: (e: Endpoint, host: string) => boolean;
  /**
   * A server-side Lua filter whose only effect on the request is on these (lower-case) headers:
   * the evaluator then tries every value it could leave there, and predicts when all agree.
   */
  readonly rewritesHeaders?: readonly string[];
  /** A single Lua patch the model can run, and where it sits relative to RBAC. */
  readonly lua?: LuaPatch;
  /**
   * Whether it acts on this ingress gateway's own listener or routes (an EnvoyFilter in the
   * GATEWAY context, a WasmPlugin, a route attached to the Gateway): the gateway's answer is then
   * not predicted. Undefined: it does not.
   */
  readonly gateway?: (e: Endpoint) => boolean;
}

export interface LuaPatch {
  readonly program: LuaProgram;
  /** True: RBAC sees what the script leaves; false: RBAC runs first and sees the client's headers. */
  readonly beforeRbac: boolean;
  /** `match.listener.portNumber`: the patch applies to that inbound port only. */
  readonly port?: number;
}

export interface Inventory {
  readonly networkPolicies: Manifest[];
  readonly calicoPolicies: Manifest[];
  readonly calicoTiers: Manifest[];
  readonly calicoNetworkSets: Manifest[];
  readonly clusterNetworkPolicies: Manifest[];
  readonly peerAuthentications: Manifest[];
  readonly authorizationPolicies: Manifest[];
  readonly rbac: Manifest[];
  /** Gateway API ReferenceGrants (model/reference-grant.ts). */
  readonly referenceGrants: Manifest[];
  readonly unmodeled: Unmodeled[];
  /** FelixConfiguration sets the deny action to Reject: drops become refusals. */
  readonly rejectInsteadOfDrop: boolean;
  /** RequestAuthentication objects: they only matter for requests that carry a token. */
  readonly requestAuthentications: Manifest[];
  /** Objects the cluster's Calico does not act on (an AdminNetworkPolicy on v3.32), each with why. */
  readonly ignored: string[];
}

/** The layer whose policies `--ablate` removes with this manifest. */
export function layerOf(m: Manifest): AblatableLayer | undefined {
  return readingOf(String(m.object.apiVersion), String(m.object.kind)).layer;
}

export function inventory(
  manifests: readonly Manifest[],
  rootNamespace: string,
  clusterDomain: string,
  /** The Calico release enforcing policy, when known (ClusterFacts.calico). */
  calico?: string,
): Inventory {
  const inv: Inventory = {
    networkPolicies: [],
    calicoPolicies: [],
    calicoTiers: [],
    calicoNetworkSets: [],
    clusterNetworkPolicies: [],
    peerAuthentications: [],
    authorizationPolicies: [],
    rbac: [],
    referenceGrants: [],
    unmodeled: [],
    rejectInsteadOfDrop: false,
    requestAuthentications: [],
    ignored: [],
  };
  let reject = false;
  for (const m of manifests) {
    const apiVersion = String(m.object.apiVersion);
    const kind = String(m.object.kind);
    const { name, namespace } = objectName(m.object);
    const title = `${kind} ${namespace ? `${namespace}/` : ''}${name} (${where(m)})`;
    const spec: Obj = isObj(m.object.spec) ? m.object.spec : {};
    const unmodeled = (why: string, scope: Unmodeled['scope'], applies: Unmodeled['applies'] = () => true) =>
      inv.unmodeled.push({ title, why, scope, applies });
    const inScope = (e: Endpoint) => namespace === rootNamespace || e.namespace === namespace;

    const reading = readingOf(apiVersion, kind).model;
    switch (reading) {
      case 'network-policy':
        inv.networkPolicies.push(m);
        break;
      case 'calico-policy':
        inv.calicoPolicies.push(m);
        break;
      case 'calico-tier':
        inv.calicoTiers.push(m);
        break;
      case 'calico-network-set':
        inv.calicoNetworkSets.push(m);
        break;
      case 'cluster-network-policy':
        inv.clusterNetworkPolicies.push(m);
        break;
      case 'felix-configuration': {
        const action = [spec.iptablesFilterDenyAction, spec.nftablesFilterDenyAction]
          .filter((a): a is string => typeof a === 'string')
          .map((a) => a.toUpperCase());
        if (action.includes('REJECT')) reject = true;
        break;
      }
      case 'peer-authentication':
        inv.peerAuthentications.push(m);
        break;
      case 'authorization-policy':
        inv.authorizationPolicies.push(m);
        break;
      case 'request-authentication':
        inv.requestAuthentications.push(m);
        break;
      case 'rbac':
        inv.rbac.push(m);
        break;
      case 'reference-grant':
        inv.referenceGrants.push(m);
        break;
      case 'host-endpoint':
        unmodeled('host endpoint policy can filter traffic to the node, where the API server listens', 'api');
        break;
      case 'envoy-filter':
      case 'wasm-plugin': {
        const envoyFilter = reading === 'envoy-filter';
        const selector = selectorOf(envoyFilter ? spec.workloadSelector : spec.selector, envoyFilter);
        const contexts = envoyFilter ? patchContexts(spec) : new Set(['ANY']);
        const applies = (e: Endpoint) => e.sidecar && inScope(e) && selector(e.labels);
        const why = `${kind} patches the proxy's filters; the model does not run them`;
        const headers = envoyFilter ? luaHeaderRewrites(spec) : undefined;
        if (contexts.has('ANY') || contexts.has('SIDECAR_INBOUND')) {
          inv.unmodeled.push({
            title,
            why: headers
              ? `its Lua filter may set, add or remove the request header(s) ${headers.join(', ')}`
              : why,
            scope: 'server',
            applies,
            ...(headers ? { rewritesHeaders: headers } : {}),
            ...(headers ? luaPatchOf(spec) : {}),
          });
        }
        if (contexts.has('ANY') || contexts.has('SIDECAR_OUTBOUND')) unmodeled(why, 'client', applies);
        if (contexts.has('ANY') || contexts.has('GATEWAY')) {
          inv.unmodeled.push({
            title,
            why,
            scope: 'client',
            applies: () => false,
            gateway: (e) => e.role === 'gateway' && inScope(e) && selector(e.labels),
          });
        }
        break;
      }
      case 'sidecar': {
        const selector = selectorOf(spec.workloadSelector, true);
        unmodeled(
          'Sidecar changes which destinations the proxy knows and how it reaches them',
          'client',
          (e) => e.sidecar && inScope(e) && selector(e.labels),
        );
        break;
      }
      case 'client-routing': {
        const hosts = (kind === 'DestinationRule' ? [spec.host] : Array.isArray(spec.hosts) ? spec.hosts : [])
          .filter((h): h is string => typeof h === 'string')
          .map((h) => qualify(h, namespace ?? 'default', clusterDomain));
        unmodeled(
          `${kind} changes how clients route to or secure the host (TLS mode, routing)`,
          'client',
          (e, host) => e.sidecar && hosts.some((h) => hostMatches(h, host)),
        );
        break;
      }
      case 'route': {
        const parents = Array.isArray(spec.parentRefs) ? spec.parentRefs.filter(isObj) : [];
        const services = parents
          .filter((p) => p.kind === 'Service')
          .map(
            (p) =>
              `${String(p.name)}.${typeof p.namespace === 'string' ? p.namespace : (namespace ?? 'default')}.svc.${clusterDomain}`,
          );
        if (services.length > 0) {
          unmodeled(
            `${kind} attached to a Service routes mesh traffic`,
            'client',
            (e, host) => e.sidecar && services.includes(host),
          );
        }
        // A parentRef's kind defaults to Gateway (gateway-api v1.5.1 apis/v1/shared_types.go:35-54
        // ParentReference): such a route adds to what the Gateway's listener routes.
        const gateways = parents
          .filter((p) => (p.kind ?? 'Gateway') === 'Gateway' && (p.group ?? GATEWAY_GROUP) === GATEWAY_GROUP)
          .map(
            (p) =>
              `${typeof p.namespace === 'string' ? p.namespace : (namespace ?? 'default')}/${String(p.name)}`,
          );
        if (gateways.length > 0) {
          inv.unmodeled.push({
            title,
            why: `${kind} attached to an ingress gateway changes what it routes, beyond the routes the scenario declares`,
            scope: 'client',
            applies: () => false,
            gateway: (e) =>
              e.role === 'gateway' &&
              gateways.includes(`${e.namespace ?? ''}/${String(e.labels[GATEWAY_NAME_LABEL])}`),
          });
        }
        break;
      }
      case 'admin-network-policy': {
        const effect = isAdminPolicyKind(kind)
          ? adminPolicyEffect(kind, calico)
          : { effect: 'unknown' as const, why: `${apiVersion} ${kind} is not a kind the model understands` };
        if (effect.effect === 'none') inv.ignored.push(`${title}: ${effect.why}`);
        else unmodeled(effect.why, 'network');
        break;
      }
      case 'unmodeled-calico':
        unmodeled(`Calico ${kind} is not modeled`, 'network');
        break;
      case 'unmodeled-istio':
        unmodeled(`Istio ${kind} is not modeled`, 'all');
        break;
      case 'unmodeled':
        unmodeled(`${apiVersion} ${kind} is not a kind the model understands; it may change traffic`, 'all');
        break;
      case 'cluster-labels': // Their labels are taken into the cluster model.
      case 'inert':
        break;
    }
  }
  return { ...inv, rejectInsteadOfDrop: reject };
}

function selectorOf(v: unknown, labelsField: boolean): LabelMatcher {
  if (!isObj(v)) return () => true;
  try {
    return compileMatchLabels(labelsField ? { matchLabels: v.labels } : v, 'selector').match;
  } catch {
    return () => true;
  }
}

function patchContexts(spec: Obj): Set<string> {
  const out = new Set<string>();
  for (const p of Array.isArray(spec.configPatches) ? spec.configPatches : []) {
    const match = isObj(p) && isObj(p.match) ? p.match : {};
    out.add(typeof match.context === 'string' ? match.context : 'ANY');
  }
  if (out.size === 0) out.add('ANY');
  return out;
}

/** A short host (`svc` or `svc.ns`) as Istio reads it in the object's namespace. */
function qualify(host: string, namespace: string, domain: string): string {
  if (host.includes('*')) return host;
  const parts = host.split('.');
  if (parts.length === 1) return `${host}.${namespace}.svc.${domain}`;
  if (parts.length === 2) return `${host}.svc.${domain}`;
  return host;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return host.endsWith(pattern.slice(1));
  return pattern.toLowerCase() === host.toLowerCase();
}

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

const LUA_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua';

/**
 * The request headers an EnvoyFilter's Lua code may change, when that is all it may do: every
 * patch inserts an HTTP Lua filter, the code names headers only as string literals in
 * add/replace/remove/setHttp calls, never a pseudo-header or Host, and never answers the request
 * itself (respond) or calls out (httpCall). Anything else: undefined (not understood).
 */
export function luaHeaderRewrites(spec: Obj): string[] | undefined {
  const patches = Array.isArray(spec.configPatches) ? spec.configPatches : [];
  if (patches.length === 0) return undefined;
  const headers = new Set<string>();
  for (const p of patches) {
    if (!isObj(p) || p.applyTo !== 'HTTP_FILTER' || !isObj(p.patch)) return undefined;
    const operation = p.patch.operation;
    if (!['INSERT_FIRST', 'INSERT_BEFORE', 'INSERT_AFTER', 'ADD'].includes(String(operation)))
      return undefined;
    const value = isObj(p.patch.value) ? p.patch.value : {};
    const config = isObj(value.typed_config)
      ? value.typed_config
      : isObj(value.typedConfig)
        ? value.typedConfig
        : {};
    if (config['@type'] !== LUA_TYPE) return undefined;
    const code = luaCode(config);
    if (code === undefined || /\b(respond|httpCall|body|bodyChunks|setBytes)\s*\(/.test(code))
      return undefined;
    const calls = [...code.matchAll(/:\s*(add|replace|remove|setHttp|appendHttp)\s*\(\s*([^,)]*)/g)];
    for (const [, , arg] of calls) {
      const literal = /^["']([^"']+)["']\s*$/.exec((arg ?? '').trim());
      if (!literal?.[1]) return undefined;
      const name = literal[1].toLowerCase();
      if (name.startsWith(':') || name === 'host') return undefined;
      headers.add(name);
    }
  }
  return headers.size > 0 && headers.size <= 2 ? [...headers] : undefined;
}

function luaCode(config: Obj): string | undefined {
  const source = isObj(config.default_source_code)
    ? config.default_source_code
    : isObj(config.defaultSourceCode)
      ? config.defaultSourceCode
      : undefined;
  const inline = source?.inline_string ?? source?.inlineString ?? config.inline_code ?? config.inlineCode;
  return typeof inline === 'string' ? inline : undefined;
}

/**
 * The one Lua patch of an EnvoyFilter, compiled, with its place relative to RBAC
 * ({@link rbacPlacement}). A sub-filter Istio does not build (nothing is inserted unless another
 * patch adds it), several patches, or code the interpreter cannot run: nothing.
 */
function luaPatchOf(spec: Obj): { lua: LuaPatch } | Record<string, never> {
  const patches: readonly unknown[] = Array.isArray(spec.configPatches) ? spec.configPatches : [];
  const patch = patches[0];
  if (patches.length !== 1 || !isObj(patch) || !isObj(patch.patch) || !isObj(patch.match)) return {};
  const listener = isObj(patch.match.listener) ? patch.match.listener : {};
  const placement = rbacPlacement(patch);
  if (placement !== 'before' && placement !== 'after') return {};
  const beforeRbac = placement === 'before';
  const value = isObj(patch.patch.value) ? patch.patch.value : {};
  const config = isObj(value.typed_config)
    ? value.typed_config
    : isObj(value.typedConfig)
      ? value.typedConfig
      : {};
  const code = luaCode(config);
  const program = code === undefined ? undefined : compileLua(code);
  if (!program) return {};
  const port = typeof listener.portNumber === 'number' ? listener.portNumber : undefined;
  return { lua: { program, beforeRbac, ...(port === undefined ? {} : { port }) } };
}
