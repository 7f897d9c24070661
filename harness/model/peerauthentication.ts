/**
 * Istio PeerAuthentication (security.istio.io v1 / v1beta1): the mTLS mode a sidecar accepts on
 * a port.
 *
 * Semantics (istio/api peer_authentication.proto; istio pilot/pkg/model/authentication.go):
 * - Mesh level: a selector-less policy in the root namespace. Namespace level: a selector-less
 *   policy in another namespace. Workload level: a policy with a selector (ignored in the root
 *   namespace). Of several at one level, the oldest counts (creation time, then name).
 * - Mode resolution: PERMISSIVE, overridden by the mesh mode, the namespace mode, the workload
 *   mode, then the workload's `portLevelMtls` for the port; UNSET inherits.
 * - `portLevelMtls` needs a selector (rejected otherwise).
 */
import type { PolicyManifest as Manifest } from './types.js';
import type { Endpoint } from './cluster.js';
import { compileMatchLabels, type LabelMatcher } from './labels.js';
import { where } from './networkpolicy.js';
import { NotUnderstood, isObj, obj, objectName, onlyKeys, str } from './read.js';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

interface CompiledPeerAuthentication {
  readonly title: string;
  readonly where: string;
  readonly namespace: string;
  readonly created: string;
  readonly name: string;
  readonly index: number;
  readonly selector: LabelMatcher | undefined;
  readonly mode: MtlsMode | undefined;
  readonly ports: ReadonlyMap<number, MtlsMode | undefined>;
  readonly problem?: string;
}

export interface MtlsDecision {
  /** The mode, or undefined when the model cannot tell (reasons say why). */
  readonly mode: MtlsMode | undefined;
  readonly reasons: readonly string[];
}

const MODES = ['STRICT', 'PERMISSIVE', 'DISABLE', 'UNSET'];

function mode(v: unknown, at: string): MtlsMode | undefined {
  const m = str(v, at);
  if (m === undefined || m === 'UNSET') return undefined;
  if (!MODES.includes(m)) throw new NotUnderstood(`${at} '${m}' is not STRICT, PERMISSIVE, DISABLE or UNSET`);
  return m as MtlsMode;
}

export class PeerAuthenticationLayer {
  private readonly policies: readonly CompiledPeerAuthentication[];
  private readonly root: string;
  private readonly cache = new Map<string, MtlsDecision>();

  constructor(manifests: readonly Manifest[], rootNamespace: string) {
    this.root = rootNamespace;
    this.policies = manifests.map((m, index) => compile(m, index));
  }

  get size(): number {
    return this.policies.length;
  }

  /** The mode the sidecar of `server` enforces on `port`. */
  modeFor(server: Endpoint, port: number): MtlsDecision {
    const key = `${server.index}:${port}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const decision = this.resolve(server, port);
    this.cache.set(key, decision);
    return decision;
  }

  private resolve(server: Endpoint, port: number): MtlsDecision {
    const ns = server.namespace ?? '';
    const reasons: string[] = [];
    const inNs = (n: string) => this.policies.filter((p) => p.namespace === n);
    const mesh = inNs(this.root).filter((p) => p.selector === undefined);
    const namespaced = ns === this.root ? [] : inNs(ns).filter((p) => p.selector === undefined);
    const workload = ns === this.root ? [] : inNs(ns).filter((p) => p.selector?.(server.labels) === true);
    let result: MtlsMode = 'PERMISSIVE';
    let from = 'no PeerAuthentication applies: Istio defaults to PERMISSIVE';
    for (const [level, candidates] of [
      ['mesh', mesh],
      ['namespace', namespaced],
      ['workload', workload],
    ] as const) {
      if (candidates.length === 0) continue;
      const chosen = oldest(candidates);
      if (chosen === undefined) {
        return {
          mode: undefined,
          reasons: [
            `several ${level}-level PeerAuthentications apply to ${server.key} (${candidates.map((c) => c.title).join(', ')}) ` +
              'and which is oldest depends on when they were created',
          ],
        };
      }
      if (chosen.problem !== undefined) {
        return {
          mode: undefined,
          reasons: [
            `PeerAuthentication ${chosen.title} (${chosen.where}) is not understood: ${chosen.problem}`,
          ],
        };
      }
      const ignored = candidates.filter((c) => c !== chosen);
      if (ignored.length > 0) {
        reasons.push(
          `${ignored.map((c) => c.title).join(', ')} ignored: Istio keeps only the oldest ${level}-level PeerAuthentication`,
        );
      }
      if (chosen.mode !== undefined) {
        result = chosen.mode;
        from = `PeerAuthentication ${chosen.title} (${level}, ${chosen.where}) sets ${chosen.mode}`;
      }
      if (level === 'workload' && chosen.ports.has(port)) {
        const portMode = chosen.ports.get(port);
        if (portMode !== undefined) {
          result = portMode;
          from = `PeerAuthentication ${chosen.title} (${chosen.where}) sets ${portMode} on port ${port}`;
        }
      }
    }
    reasons.push(from);
    return { mode: result, reasons };
  }
}

/**
 * Istio keeps the oldest policy; creation times come from the cluster, so with none recorded
 * the manifests' order (the apply order) and the name tie-break must agree for a definite answer.
 */
function oldest(candidates: readonly CompiledPeerAuthentication[]): CompiledPeerAuthentication | undefined {
  if (candidates.length === 1) return candidates[0];
  const byCreated = [...candidates].sort((a, b) =>
    a.created < b.created ? -1 : a.created > b.created ? 1 : 0,
  );
  const first = byCreated[0] as CompiledPeerAuthentication;
  const second = byCreated[1] as CompiledPeerAuthentication;
  if (first.created !== '' && first.created !== second.created) return first;
  const tied = byCreated.filter((c) => c.created === first.created);
  const byName = [...tied].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))[0];
  const byOrder = [...tied].sort((a, b) => a.index - b.index)[0];
  if (byName === byOrder) return byName;
  const modes = new Set(tied.map((t) => JSON.stringify([t.mode, [...t.ports]])));
  return modes.size === 1 ? byOrder : undefined;
}

function compile(m: Manifest, index: number): CompiledPeerAuthentication {
  const { name, namespace } = objectName(m.object);
  const metadata = isObj(m.object.metadata) ? m.object.metadata : {};
  const created = typeof metadata.creationTimestamp === 'string' ? metadata.creationTimestamp : '';
  const base = {
    title: `${namespace ?? '?'}/${name}`,
    where: where(m),
    namespace: namespace ?? '',
    created,
    name,
    index,
  };
  try {
    if (namespace === undefined) throw new NotUnderstood('metadata.namespace is missing');
    const spec = obj(m.object.spec, 'spec');
    onlyKeys(spec, ['selector', 'mtls', 'portLevelMtls'], 'spec');
    const sel =
      spec.selector === undefined || spec.selector === null
        ? undefined
        : compileMatchLabels(spec.selector, 'spec.selector');
    const mtls = obj(spec.mtls, 'spec.mtls');
    onlyKeys(mtls, ['mode'], 'spec.mtls');
    const ports = new Map<number, MtlsMode | undefined>();
    const portLevel = obj(spec.portLevelMtls, 'spec.portLevelMtls');
    if (Object.keys(portLevel).length > 0 && (sel === undefined || sel.empty)) {
      throw new NotUnderstood('portLevelMtls needs a selector (Istio rejects it)');
    }
    for (const [port, value] of Object.entries(portLevel)) {
      const at = `spec.portLevelMtls.${port}`;
      const v = obj(value, at);
      onlyKeys(v, ['mode'], at);
      ports.set(Number(port), mode(v.mode, `${at}.mode`));
    }
    return {
      ...base,
      selector: sel === undefined || sel.empty ? undefined : sel.match,
      mode: mode(mtls.mode, 'spec.mtls.mode'),
      ports,
    };
  } catch (error) {
    if (!(error instanceof NotUnderstood)) throw error;
    return { ...base, selector: undefined, mode: undefined, ports: new Map(), problem: error.message };
  }
}
