/**
 * Ambient-mode pitfalls. Each rule rests on a fact of ../shared/reference/ambient-cnp-facts.md,
 * named in its help. A namespace is ambient when the scenario says so or a Namespace manifest is
 * labelled `istio.io/dataplane-mode=ambient` (fact A2.1).
 */
import { calicoEbpfFields } from '../calico-dataplane.js';
import { ztunnelStatus } from '../model/ambient-authz.js';
import { AuthorizationLayer } from '../model/authorization.js';
import {
  dataPlaneOf,
  HBONE_PORT,
  KUBELET_PROBE_ADDRESS,
  namespacePlane,
  WAYPOINT_CLASS,
} from '../scenario/dataplane.js';
import type { Manifest } from '../scenario/types.js';
import { arr, obj, str, strings } from '../policies/objects.js';
import { namespaceOf, type LintContext } from './context.js';
import { at, type Finding, type Rule } from './types.js';

/** Ambient namespaces, and the waypoints each declares (scenario waypoints and waypoint Gateways). */
function ambientView(ctx: LintContext): { namespaces: Set<string>; waypoints: Map<string, Set<string>> } {
  const namespaces = new Set<string>();
  const waypoints = new Map<string, Set<string>>();
  const addWaypoint = (ns: string, name: string) => {
    const set = waypoints.get(ns) ?? new Set<string>();
    set.add(name);
    waypoints.set(ns, set);
  };
  for (const n of ctx.scenario?.namespaces ?? []) {
    if (namespacePlane(n) === 'ambient') namespaces.add(n.name);
    for (const w of n.waypoints ?? []) addWaypoint(n.name, w.name);
  }
  for (const m of ctx.manifests) {
    const meta = obj(m.object.metadata);
    if (m.object.kind === 'Namespace' && obj(meta.labels)['istio.io/dataplane-mode'] === 'ambient') {
      const name = str(meta.name);
      if (name) namespaces.add(name);
    }
    if (m.object.kind === 'Gateway' && str(obj(m.object.spec).gatewayClassName) === WAYPOINT_CLASS) {
      const ns = namespaceOf(m);
      const name = str(meta.name);
      if (ns && name) addWaypoint(ns, name);
    }
  }
  return { namespaces, waypoints };
}

/** Whether a policy in `ns` reaches ambient workloads: its namespace is ambient, or it is mesh-wide. */
function reachesAmbient(ctx: LintContext, ns: string | undefined, ambient: Set<string>): boolean {
  return ns !== undefined && (ambient.has(ns) || (ns === ctx.rootNamespace && ambient.size > 0));
}

function authorizationPolicies(ctx: LintContext): Manifest[] {
  return ctx.manifests.filter(
    (m) =>
      m.object.kind === 'AuthorizationPolicy' && String(m.object.apiVersion).startsWith('security.istio.io/'),
  );
}

/** The AuthorizationPolicies whose own namespace is ambient, with that namespace and their spec. */
function policiesInAmbientNamespaces(
  ctx: LintContext,
  ambient: Set<string>,
): { m: Manifest; ns: string; spec: Record<string, unknown> }[] {
  return authorizationPolicies(ctx).flatMap((m) => {
    const ns = namespaceOf(m);
    return ns !== undefined && ambient.has(ns) ? [{ m, ns, spec: obj(m.object.spec) }] : [];
  });
}

const httpAtZtunnel: Rule = {
  id: 'ambient/http-at-ztunnel',
  severity: 'error',
  summary: 'An AuthorizationPolicy enforced by ztunnel uses HTTP attributes',
  help:
    'A selector (or selector-less) policy on ambient workloads is enforced by ztunnel, which sees no HTTP. ' +
    'An ALLOW rule with an HTTP attribute is dropped (the workload may deny everything); a DENY loses its HTTP fields ' +
    '(denying nothing, or every connection to its ports). istiod marks it ZtunnelAccepted: UnsupportedValue ' +
    '(ambient-cnp-facts.md A4.2, A4.3). Attach HTTP rules to a waypoint with targetRefs.',
  check(ctx) {
    const { namespaces } = ambientView(ctx);
    const out: Finding[] = [];
    for (const m of authorizationPolicies(ctx)) {
      if (!reachesAmbient(ctx, namespaceOf(m), namespaces)) continue;
      const [compiled] = new AuthorizationLayer([m], ctx.rootNamespace, ctx.trustDomain).compiled;
      const status = compiled && compiled.problem === undefined ? ztunnelStatus(compiled) : undefined;
      if (!status) continue;
      out.push(
        at(
          this,
          m,
          ['spec', 'rules'],
          `ztunnel enforces this policy and drops its HTTP attributes (${status.attributes.join(', ')}): ZtunnelAccepted ${status.reason}`,
          'Move the HTTP rules to a policy with targetRefs to the Service or its waypoint, and keep only L4 fields here.',
        ),
      );
    }
    return out;
  },
};

const l7WithoutWaypoint: Rule = {
  id: 'ambient/l7-without-waypoint',
  severity: 'error',
  summary: 'A targetRefs policy in an ambient namespace with no waypoint to enforce it',
  help:
    'In ambient mode a targetRefs policy is enforced only by the waypoint of its Service or Gateway; ztunnel never ' +
    'gets it (ambient-cnp-facts.md A4.1, A4.4). Without a waypoint on the path the policy does nothing.',
  check(ctx) {
    const { namespaces, waypoints } = ambientView(ctx);
    const out: Finding[] = [];
    for (const { m, ns, spec } of policiesInAmbientNamespaces(ctx, namespaces)) {
      const refs = [...(spec.targetRef ? [spec.targetRef] : []), ...arr(spec.targetRefs)].map(obj);
      refs.forEach((ref, i) => {
        const kind = str(ref.kind);
        const name = str(ref.name) ?? '';
        let missing: string | undefined;
        if (kind === 'Gateway' && !waypoints.get(ns)?.has(name))
          missing = `no waypoint named ${name} in ${ns}`;
        if (kind === 'Service' && ctx.scenario) {
          const w = ctx.scenario.workloads.find((x) => x.namespace === ns && x.name === name);
          if (w && w.waypoint === undefined) missing = `Service ${ns}/${name} uses no waypoint`;
        }
        if (missing) {
          out.push(
            at(
              this,
              m,
              ['spec', spec.targetRef ? 'targetRef' : 'targetRefs', ...(spec.targetRef ? [] : [i])],
              `this policy is enforced by a waypoint, and ${missing}: it does nothing`,
              'Deploy a waypoint for the Service (scenario waypoints:, or istioctl waypoint apply) or attach the policy by selector for L4 rules.',
            ),
          );
        }
      });
    }
    return out;
  },
};

const waypointBypass: Rule = {
  id: 'ambient/waypoint-bypass',
  severity: 'warning',
  summary: 'A waypoint enforces L7 policy but ztunnel still admits traffic that skips the waypoint',
  help:
    'Out-of-mesh clients and calls to a pod IP bypass a service waypoint, so its L7 policy is not evaluated (AO8). ' +
    'Upstream ztunnel does not trust the waypoint by itself: only a selector ALLOW at the destination that names the ' +
    "waypoint's service account (or PILOT_AUTO_ALLOW_WAYPOINT_POLICY) closes the bypass (ambient-cnp-facts.md A4.6).",
  check(ctx) {
    const { namespaces, waypoints } = ambientView(ctx);
    const out: Finding[] = [];
    for (const { m, ns, spec } of policiesInAmbientNamespaces(ctx, namespaces)) {
      if (!spec.targetRef && arr(spec.targetRefs).length === 0) continue;
      const names = [...(waypoints.get(ns) ?? [])];
      const closed = names.some((wp) =>
        authorizationPolicies(ctx).some((p) => {
          const pns = namespaceOf(p);
          const ps = obj(p.object.spec);
          if (pns !== ns && pns !== ctx.rootNamespace) return false;
          if (ps.targetRef || arr(ps.targetRefs).length > 0 || (str(ps.action) ?? 'ALLOW') !== 'ALLOW')
            return false;
          return arr(ps.rules).some((r) =>
            arr(obj(r).from).some((f) =>
              strings(obj(obj(f).source).principals).includes(`${ctx.trustDomain}/ns/${ns}/sa/${wp}`),
            ),
          );
        }),
      );
      if (closed || names.length === 0) continue;
      out.push(
        at(
          this,
          m,
          ['spec'],
          `clients that bypass the waypoint of ${ns} (out-of-mesh pods, pod-IP calls) skip this policy: no ztunnel ALLOW names the waypoint's service account`,
          `Add a selector ALLOW in ${ns} whose principals are ${ctx.trustDomain}/ns/${ns}/sa/<waypoint> (and any gateway), or enable PILOT_AUTO_ALLOW_WAYPOINT_POLICY.`,
        ),
      );
    }
    return out;
  },
};

/** Ingress rules of a NetworkPolicy that restricts ingress (without policyTypes it always does). */
function ingressRules(m: Manifest): Record<string, unknown>[] | undefined {
  const spec = obj(m.object.spec);
  const types = strings(spec.policyTypes);
  if (types.length > 0 && !types.includes('Ingress')) return undefined;
  return arr(spec.ingress).map(obj);
}

function networkPolicies(ctx: LintContext, ambient: Set<string>): Manifest[] {
  return ctx.manifests.filter(
    (m) =>
      m.object.kind === 'NetworkPolicy' &&
      m.object.apiVersion === 'networking.k8s.io/v1' &&
      ambient.has(namespaceOf(m) ?? ''),
  );
}

/** True when the NetworkPolicy selects every pod of its namespace (`podSelector: {}`). */
function selectsAll(m: Manifest): boolean {
  const sel = obj(obj(m.object.spec).podSelector);
  return Object.keys(obj(sel.matchLabels)).length === 0 && arr(sel.matchExpressions).length === 0;
}

/**
 * The ingress-restricting policies of ambient namespaces that do not admit what `admits` looks
 * for. NetworkPolicies add up: one that selects every pod of the namespace and admits it covers
 * the others, so they are not reported.
 */
function notAdmitting(
  ctx: LintContext,
  admits: (rules: Record<string, unknown>[]) => boolean,
  skipEmpty: boolean,
): Manifest[] {
  const { namespaces } = ambientView(ctx);
  const policies = networkPolicies(ctx, namespaces);
  const covered = new Set(
    policies.filter((m) => selectsAll(m) && admits(ingressRules(m) ?? [])).map((m) => namespaceOf(m) ?? ''),
  );
  return policies.filter((m) => {
    const rules = ingressRules(m);
    if (!rules || (skipEmpty && rules.length === 0)) return false;
    return !admits(rules) && !covered.has(namespaceOf(m) ?? '');
  });
}

function admitsHbone(rules: Record<string, unknown>[]): boolean {
  return rules.some((r) => {
    const ports = arr(r.ports).map(obj);
    return (
      ports.length === 0 ||
      ports.some(
        (p) =>
          Number(p.port) === HBONE_PORT ||
          (p.endPort !== undefined && Number(p.port) <= HBONE_PORT && Number(p.endPort) >= HBONE_PORT),
      )
    );
  });
}

function admitsProbes(rules: Record<string, unknown>[]): boolean {
  return rules.some((r) => {
    const from = arr(r.from).map(obj);
    return (
      from.length === 0 ||
      from.some((f) => {
        const cidr = str(obj(f.ipBlock).cidr);
        return cidr === `${KUBELET_PROBE_ADDRESS}/32` || cidr === '0.0.0.0/0' || cidr === '169.254.0.0/16';
      })
    );
  });
}

const netpolHbone: Rule = {
  id: 'ambient/netpol-blocks-hbone',
  severity: 'warning',
  summary: 'A NetworkPolicy on ambient pods allows app ports but not HBONE (TCP 15008)',
  help:
    'Between ambient pods (upstream Istio) network policy sees TCP 15008, not the app port; a policy that lists only ' +
    "app ports drops mesh traffic, which the client sees as a reset after ztunnel's 10 s connect timeout " +
    '(ambient-cnp-facts.md A1.14, A4.9, AO5). Not reported when a policy selecting every pod of the namespace ' +
    'admits 15008.',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of notAdmitting(ctx, admitsHbone, true)) {
      out.push(
        at(
          this,
          m,
          ['spec', 'ingress'],
          `every ingress rule names ports and none is ${HBONE_PORT}: ambient clients reach these pods on ${HBONE_PORT} and are dropped`,
          `Add port ${HBONE_PORT}/TCP to the ingress rules that admit mesh clients (keep the app ports for out-of-mesh clients).`,
        ),
      );
    }
    return out;
  },
};

const netpolProbe: Rule = {
  id: 'ambient/netpol-blocks-probes',
  severity: 'warning',
  summary: 'An ingress NetworkPolicy on ambient pods does not admit kubelet probes from 169.254.7.127',
  help:
    'In ambient pods kubelet probes are SNATed to 169.254.7.127; a pod with an ingress policy needs ' +
    'ipBlock 169.254.7.127/32 or its probes may fail, depending on the CNI; whether Calico exempts it is unverified ' +
    '(ambient-cnp-facts.md A4.9). Not reported when a policy selecting every pod of the namespace admits it, nor, with a scenario, for a namespace where no ambient workload serves TCP (no readiness probe).',
  check(ctx) {
    const out: Finding[] = [];
    // With a scenario, a namespace none of whose ambient workloads serves TCP gets no probes.
    const probed = ctx.scenario
      ? new Set(
          ctx.scenario.workloads
            .filter((w) => dataPlaneOf(w) === 'ambient' && w.ports.some((p) => p.protocol === 'TCP'))
            .map((w) => w.namespace),
        )
      : undefined;
    for (const m of notAdmitting(ctx, admitsProbes, false)) {
      if (probed && !probed.has(namespaceOf(m) ?? '')) continue;
      out.push(
        at(
          this,
          m,
          ['spec'],
          `ingress to ambient pods is restricted and nothing admits kubelet probes from ${KUBELET_PROBE_ADDRESS}`,
          `Add an ingress rule from ipBlock ${KUBELET_PROBE_ADDRESS}/32.`,
        ),
      );
    }
    return out;
  },
};

const envoyFilterAmbient: Rule = {
  id: 'ambient/envoyfilter',
  severity: 'error',
  summary: 'An EnvoyFilter in an ambient namespace',
  help:
    'EnvoyFilter is not supported on waypoints and is silently ignored after migration to ambient; a tenant-identity ' +
    'header it sets is then never set (ambient-cnp-facts.md A4.8). Authorize on principals at the waypoint, and strip a ' +
    "client's identity header with an HTTPRoute RequestHeaderModifier.",
  check(ctx) {
    const { namespaces } = ambientView(ctx);
    return ctx.manifests
      .filter((m) => m.object.kind === 'EnvoyFilter' && namespaces.has(namespaceOf(m) ?? ''))
      .map((m) =>
        at(
          this,
          m,
          ['spec'],
          `EnvoyFilter in ambient namespace ${namespaceOf(m) ?? ''}: ambient workloads have no sidecar and waypoints ignore EnvoyFilter`,
          'Replace it: principals in a waypoint AuthorizationPolicy for identity, HTTPRoute RequestHeaderModifier to strip client headers.',
        ),
      );
  },
};

const calicoEbpf: Rule = {
  id: 'ambient/calico-ebpf',
  severity: 'error',
  summary: 'Calico runs the eBPF dataplane alongside ambient workloads',
  help:
    "Calico's eBPF dataplane bypasses the socket layer ztunnel's redirection relies on, so Calico policy is not " +
    'enforced for ambient traffic; connect-time load balancing also makes ztunnel skip waypoints (ambient-cnp-facts.md A1.8).',
  check(ctx) {
    const { namespaces } = ambientView(ctx);
    if (namespaces.size === 0) return [];
    const out: Finding[] = [];
    for (const m of ctx.manifests) {
      for (const f of calicoEbpfFields(m.object)) {
        out.push(
          at(
            this,
            m,
            [...f.path],
            `${f.setting} with ambient workloads: Calico policy is not enforced on ambient traffic`,
            `Run Calico with ${f.instead} for ambient.`,
          ),
        );
      }
    }
    return out;
  },
};

export const AMBIENT_RULES: readonly Rule[] = [
  httpAtZtunnel,
  l7WithoutWaypoint,
  waypointBypass,
  netpolHbone,
  netpolProbe,
  envoyFilterAmbient,
  calicoEbpf,
];
