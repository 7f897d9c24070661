/**
 * What the rules know besides the manifests: which namespaces are tenants (and of which tenant),
 * which are injected, which is the mesh root, which label keys live on namespaces and which on
 * pods. A scenario says all of this exactly; without one the context falls back to what the
 * manifests themselves show (Namespace objects, pod templates) and, for tenants, to the options
 * and conventions of {@link TenancySource}, decided here for every rule.
 */
import type { Manifest, Scenario } from '../scenario/types.js';
import { UserError } from '../errors.js';
import { warnsWithoutNamespace } from '../policies/kinds.js';
import { TENANT_LABEL } from '../policies/options.js';
import { arr, obj, str, strings } from '../policies/objects.js';

export interface LintOptions {
  /** The scenario the manifests belong to; gives tenants, injection, root namespace and workloads. */
  readonly scenario?: Scenario;
  /** Service ClusterIP ranges (policy never sees these addresses). Default: kubeadm's and kind's 10.96.0.0/12. */
  readonly serviceCidrs?: readonly string[];
  /**
   * Without a scenario: namespace label keys that mark a tenant namespace (`--tenant-label`); the
   * value names the tenant. With {@link tenantNamespaces}, these alone decide which namespaces are
   * tenants: no framework label, `tenant` label or `tenant-` prefix is read for that.
   */
  readonly tenantLabels?: readonly string[];
  /** Without a scenario: tenant namespaces by name (`--tenant-namespaces`), added to those of {@link tenantLabels}. */
  readonly tenantNamespaces?: readonly string[];
}

/**
 * How a namespace was found to be a tenant's. Without a scenario, strongest first (README
 * "bulkhead lint"):
 * 1. the options (`tenant-namespaces-option`, `tenant-label-option`): a namespace they list, or
 *    whose Namespace object carries one of their label keys, is a tenant's; when either option
 *    is given, no other namespace is;
 * 2. a multi-tenancy framework's labels on the Namespace object: Capsule's
 *    {@link CAPSULE_TENANT_LABEL}, then HNC's tree labels ({@link HNC_TREE_DEPTH_SUFFIX});
 * 3. bulkhead's `tenant` label on the Namespace object (`tenant-label`);
 * 4. the `tenant-` prefix of a namespace the manifests define, live in or name (`tenant-prefix`).
 * The tenant's name: in 2 to 4, what made the namespace a tenant's (the label's value; for the
 * prefix, the rest of the name). With the options, the value of the first of their label keys
 * the namespace carries (in the order given), else the framework label's, else the `tenant`
 * label's, else the namespace's own name.
 */
export type TenancySource =
  | 'scenario'
  | 'tenant-namespaces-option'
  | 'tenant-label-option'
  | 'capsule'
  | 'hnc'
  | 'tenant-label'
  | 'tenant-prefix';

export interface Tenancy {
  /** The tenant's name. */
  readonly tenant: string;
  readonly source: TenancySource;
}

/**
 * Capsule labels every namespace of a Tenant with the Tenant's name (projectcapsule/capsule
 * controllers/tenant/namespaces.go, the key from api/v1beta1/tenant_labels.go GetTypeLabel;
 * docs: projectcapsule/website content/en/docs/tenants/namespaces.md "Label").
 */
export const CAPSULE_TENANT_LABEL = 'capsule.clastix.io/tenant';

/**
 * HNC's tree labels: a namespace carries `<ns>.tree.hnc.x-k8s.io/depth` for itself (depth 0) and
 * for each ancestor (1 for the parent, 2 for the grandparent...) (kubernetes-sigs/hierarchical-
 * namespaces api/v1alpha2/hierarchy_types.go LabelTreeDepthSuffix; docs/user-guide/concepts.md
 * "Tree labels"). A namespace in a hierarchy of two or more is the tenant of its root: the
 * ancestor of greatest depth, or itself when another namespace names it as an ancestor. A lone
 * root is not a tenant by these labels: every namespace HNC manages is one. Nor is
 * `hnc.x-k8s.io/included-namespace`, which HNC sets on every namespace it does not exclude.
 */
export const HNC_TREE_DEPTH_SUFFIX = '.tree.hnc.x-k8s.io/depth';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why `key` is not a Kubernetes label key, or undefined when it is one. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `its prefix '${prefix}' is not a DNS subdomain (lower-case letters, digits, '-' and '.')`;
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return "its name must be 1 to 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit";
  }
  return undefined;
}

/** Why `name` is not a namespace name (a DNS-1123 label), or undefined when it is one. */
export function namespaceNameProblem(name: string): string | undefined {
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    return "a namespace name is at most 63 lower-case letters, digits and '-', beginning and ending with a letter or digit";
  }
  return undefined;
}

/** A label value as a tenant name: scalars as written, nothing for an empty or structured value. */
function labelName(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** The HNC root a namespace's tree labels name: the ancestor of greatest depth (>= 1). */
function hncRoot(labels: Record<string, unknown>): string | undefined {
  let root: string | undefined;
  let deepest = 0;
  for (const [key, value] of Object.entries(labels)) {
    if (!key.endsWith(HNC_TREE_DEPTH_SUFFIX)) continue;
    const depth = Number(labelName(value));
    if (!Number.isInteger(depth) || depth <= deepest) continue;
    root = key.slice(0, -HNC_TREE_DEPTH_SUFFIX.length);
    deepest = depth;
  }
  return root;
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
  /** Each tenant namespace's tenant and how it was found ({@link TenancySource}). */
  private readonly tenancies = new Map<string, Tenancy>();
  /** {@link namespacesOfTenant}'s answers, built on the first question. */
  private members: Map<string, string[]> | undefined;
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

    const tenancies = this.tenancies;
    const nsKeys = new Set<string>(['kubernetes.io/metadata.name']);
    const podKeys = new Set<string>();
    let labelsKnown = false;
    const explicit = (options.tenantLabels?.length ?? 0) > 0 || (options.tenantNamespaces?.length ?? 0) > 0;
    if (options.scenario && explicit) {
      throw new UserError(
        'tenant labels and tenant namespaces are for manifests without a scenario: the scenario names its tenants',
      );
    }
    for (const ns of options.scenario?.namespaces ?? []) {
      labelsKnown = true;
      if (ns.tenant !== undefined) tenancies.set(ns.name, { tenant: ns.tenant, source: 'scenario' });
      this.injected.set(ns.name, ns.injection);
      for (const k of Object.keys(ns.labels)) nsKeys.add(k);
    }
    for (const w of options.scenario?.workloads ?? []) for (const k of Object.keys(w.labels)) podKeys.add(k);
    /** The labels of each Namespace object, the first one where a name is defined twice. */
    const namespaceLabels = new Map<string, Record<string, unknown>>();
    for (const m of manifests) {
      if (m.object.kind === 'Namespace' && m.object.apiVersion === 'v1') {
        labelsKnown = true;
        const md = obj(m.object.metadata);
        const name = str(md.name);
        const labels = obj(md.labels);
        for (const k of Object.keys(labels)) nsKeys.add(k);
        if (name !== undefined) {
          if (!namespaceLabels.has(name)) namespaceLabels.set(name, { ...labels });
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
    if (options.scenario) {
      // Namespace objects among the manifests with the `tenant` label count too, as they always have.
      for (const [name, labels] of namespaceLabels) {
        if (labels[TENANT_LABEL] !== undefined && !tenancies.has(name)) {
          tenancies.set(name, {
            tenant: labelName(labels[TENANT_LABEL]) ?? name,
            source: 'tenant-label',
          });
        }
      }
    } else {
      this.findTenants(namespaceLabels, options);
      // The label every tenant namespace carries in bulkhead's and the article's convention.
      if (!labelsKnown) nsKeys.add(TENANT_LABEL);
    }
    this.tenantNamespaces = new Set(tenancies.keys());
    this.namespaceLabelKeys = nsKeys;
    this.podLabelKeys = podKeys;
    this.labelsKnown = labelsKnown;
  }

  /** Without a scenario: the tenant namespaces, by the precedence of {@link TenancySource}. */
  private findTenants(
    namespaceLabels: ReadonlyMap<string, Record<string, unknown>>,
    options: LintOptions,
  ): void {
    const tenantLabels = options.tenantLabels ?? [];
    const hncRoots = new Map<string, string>();
    for (const [name, labels] of namespaceLabels) {
      const root = hncRoot(labels);
      if (root !== undefined) hncRoots.set(name, root);
    }
    const named = new Set(hncRoots.values());
    // Known namespaces: Namespace objects, and the namespaces objects live in.
    const known = new Set(namespaceLabels.keys());
    for (const m of this.manifests) {
      const ns = namespaceOf(m);
      if (ns !== undefined) known.add(ns);
    }
    const framework = (ns: string): Tenancy | undefined => {
      const labels = namespaceLabels.get(ns) ?? {};
      const capsule = labelName(labels[CAPSULE_TENANT_LABEL]);
      if (capsule !== undefined) return { tenant: capsule, source: 'capsule' };
      const root = hncRoots.get(ns) ?? (named.has(ns) ? ns : undefined);
      if (root !== undefined) return { tenant: root, source: 'hnc' };
      return undefined;
    };
    const convention = (ns: string): Tenancy | undefined => {
      const labels = namespaceLabels.get(ns);
      if (labels && labels[TENANT_LABEL] !== undefined) {
        return { tenant: labelName(labels[TENANT_LABEL]) ?? ns, source: 'tenant-label' };
      }
      return undefined;
    };
    if (tenantLabels.length > 0 || (options.tenantNamespaces?.length ?? 0) > 0) {
      const labelled = (ns: string): string | undefined => {
        const labels = namespaceLabels.get(ns) ?? {};
        const key = tenantLabels.find((k) => Object.hasOwn(labels, k));
        return key === undefined ? undefined : (labelName(labels[key]) ?? '');
      };
      for (const ns of namespaceLabels.keys()) {
        const value = labelled(ns);
        if (value === undefined) continue;
        const tenant = value || framework(ns)?.tenant || convention(ns)?.tenant || ns;
        this.tenancies.set(ns, { tenant, source: 'tenant-label-option' });
      }
      for (const ns of options.tenantNamespaces ?? []) {
        if (this.tenancies.has(ns)) continue;
        const tenant = framework(ns)?.tenant ?? convention(ns)?.tenant ?? ns;
        this.tenancies.set(ns, { tenant, source: 'tenant-namespaces-option' });
      }
      return;
    }
    for (const ns of known) {
      const found = framework(ns) ?? convention(ns);
      if (found) this.tenancies.set(ns, found);
    }
    // Namespaces named by the `tenant-<name>` convention count as tenants, named <name>.
    for (const ns of new Set([...namespaceLabels.keys(), ...this.namespacesMentioned()])) {
      if (ns.startsWith('tenant-') && !this.tenancies.has(ns)) {
        this.tenancies.set(ns, { tenant: ns.slice('tenant-'.length), source: 'tenant-prefix' });
      }
    }
  }

  /** Namespaces the manifests live in or name in Istio sources and ReferenceGrants' `from`. */
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
      if (m.object.kind === 'ReferenceGrant') {
        for (const from of arr(obj(m.object.spec).from)) {
          const n = obj(from).namespace;
          if (typeof n === 'string') out.add(n);
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

  /** The tenant a namespace belongs to and how that was found; undefined for a namespace of no tenant. */
  tenancy(ns: string | undefined): Tenancy | undefined {
    return ns === undefined ? undefined : this.tenancies.get(ns);
  }

  /** The namespaces of `tenant`, sorted. */
  namespacesOfTenant(tenant: string): readonly string[] {
    if (!this.members) {
      this.members = new Map();
      for (const [ns, t] of [...this.tenancies].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const list = this.members.get(t.tenant);
        if (list) list.push(ns);
        else this.members.set(t.tenant, [ns]);
      }
    }
    return this.members.get(tenant) ?? [];
  }

  ofKind(kind: string, apiGroup?: string): Manifest[] {
    return this.manifests.filter(
      (m) =>
        m.object.kind === kind &&
        (apiGroup === undefined || String(m.object.apiVersion).startsWith(apiGroup)),
    );
  }
}
