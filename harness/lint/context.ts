/**
 * What the rules know besides the manifests: which namespaces are tenants, which are injected,
 * which is the mesh root, which label keys live on namespaces and which on pods. A scenario says
 * all of this exactly; without one the context falls back to what the manifests themselves show
 * (Namespace objects, pod templates) and, for tenants, to the `tenant-` naming convention.
 */
import type { Manifest, Scenario } from '../scenario/types.js';
import { warnsWithoutNamespace } from '../policies/kinds.js';
import { TENANT_LABEL } from '../policies/options.js';
import { arr, obj, str, strings } from '../policies/objects.js';

export interface LintOptions {
  /** The scenario the manifests belong to; gives tenants, injection, root namespace and workloads. */
  readonly scenario?: Scenario;
  /** Service ClusterIP ranges (policy never sees these addresses). Default: kubeadm's and kind's 10.96.0.0/12. */
  readonly serviceCidrs?: readonly string[];
}

export const DEFAULT_SERVICE_CIDRS = ['10.96.0.0/12'] as const;

/** Kinds whose objects lint expects in a namespace (kinds.ts, `warnWithoutNamespace`). */
export function isNamespaced(m: Manifest): boolean {
  return warnsWithoutNamespace(String(m.object.kind));
}

export function namespaceOf(m: Manifest): string | undefined {
  return str(obj(m.object.metadata).namespace);
}

export function isCalico(m: Manifest): boolean {
  const v = String(m.object.apiVersion);
  return v === 'projectcalico.org/v3' || v === 'crd.projectcalico.org/v1';
}

/** Pod labels and spec of a Pod or a workload's pod template. */
export function podTemplate(
  m: Manifest,
): { labels: Record<string, unknown>; spec: Record<string, unknown> } | undefined {
  const kind = String(m.object.kind);
  if (kind === 'Pod') {
    return { labels: { ...obj(obj(m.object.metadata).labels) }, spec: { ...obj(m.object.spec) } };
  }
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(kind)) {
    const template = obj(obj(m.object.spec).template);
    return { labels: { ...obj(obj(template.metadata).labels) }, spec: { ...obj(template.spec) } };
  }
  return undefined;
}

export class LintContext {
  readonly manifests: readonly Manifest[];
  readonly scenario: Scenario | undefined;
  readonly rootNamespace: string;
  readonly trustDomain: string;
  readonly serviceCidrs: readonly string[];
  readonly tenantNamespaces: ReadonlySet<string>;
  /** Label keys known to be set on namespaces. */
  readonly namespaceLabelKeys: ReadonlySet<string>;
  /** Label keys known to be set on pods (scenario workloads, pod templates in the manifests). */
  readonly podLabelKeys: ReadonlySet<string>;
  /** True when the namespace labels came from a scenario or Namespace objects, not from convention. */
  readonly labelsKnown: boolean;
  private readonly injected = new Map<string, boolean>();

  constructor(manifests: readonly Manifest[], options: LintOptions = {}) {
    this.manifests = manifests;
    this.scenario = options.scenario;
    this.rootNamespace = options.scenario?.meshRootNamespace ?? 'istio-system';
    this.trustDomain = options.scenario?.trustDomain ?? 'cluster.local';
    this.serviceCidrs = options.serviceCidrs ?? DEFAULT_SERVICE_CIDRS;

    const tenants = new Set<string>();
    const nsKeys = new Set<string>(['kubernetes.io/metadata.name']);
    const podKeys = new Set<string>();
    let labelsKnown = false;
    for (const ns of options.scenario?.namespaces ?? []) {
      labelsKnown = true;
      if (ns.tenant !== undefined) tenants.add(ns.name);
      this.injected.set(ns.name, ns.injection);
      for (const k of Object.keys(ns.labels)) nsKeys.add(k);
    }
    for (const w of options.scenario?.workloads ?? []) for (const k of Object.keys(w.labels)) podKeys.add(k);
    for (const m of manifests) {
      if (m.object.kind === 'Namespace' && m.object.apiVersion === 'v1') {
        labelsKnown = true;
        const md = obj(m.object.metadata);
        const name = str(md.name);
        const labels = obj(md.labels);
        for (const k of Object.keys(labels)) nsKeys.add(k);
        if (name !== undefined) {
          if (labels[TENANT_LABEL] !== undefined) tenants.add(name);
          if (!this.injected.has(name)) {
            this.injected.set(
              name,
              labels['istio-injection'] === 'enabled' || labels['istio.io/rev'] !== undefined,
            );
          }
        }
      }
      const template = podTemplate(m);
      if (template) for (const k of Object.keys(template.labels)) podKeys.add(k);
    }
    if (!options.scenario) {
      // Without a scenario, namespaces named by the `tenant-<name>` convention count as tenants.
      for (const ns of this.namespacesMentioned()) if (ns.startsWith('tenant-')) tenants.add(ns);
      // The label every tenant namespace carries in bulkhead's and the article's convention.
      if (!labelsKnown) nsKeys.add(TENANT_LABEL);
    }
    this.tenantNamespaces = tenants;
    this.namespaceLabelKeys = nsKeys;
    this.podLabelKeys = podKeys;
    this.labelsKnown = labelsKnown;
  }

  /** Namespaces the manifests live in or name in Istio sources. */
  namespacesMentioned(): Set<string> {
    const out = new Set<string>();
    for (const m of this.manifests) {
      const ns = namespaceOf(m);
      if (ns !== undefined) out.add(ns);
      if (m.object.kind === 'AuthorizationPolicy') {
        for (const rule of arr(obj(m.object.spec).rules)) {
          for (const from of arr(obj(rule).from)) {
            const source = obj(obj(from).source);
            for (const n of [...strings(source.namespaces), ...strings(source.notNamespaces)]) out.add(n);
          }
        }
      }
    }
    return out;
  }

  /** Sidecar injection of a namespace: true, false, or undefined when nothing says. */
  injection(ns: string): boolean | undefined {
    return this.injected.get(ns);
  }

  isTenant(ns: string | undefined): boolean {
    return ns !== undefined && this.tenantNamespaces.has(ns);
  }

  ofKind(kind: string, apiGroup?: string): Manifest[] {
    return this.manifests.filter(
      (m) =>
        m.object.kind === kind &&
        (apiGroup === undefined || String(m.object.apiVersion).startsWith(apiGroup)),
    );
  }
}
