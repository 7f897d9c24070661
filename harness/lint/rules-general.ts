/**
 * Pitfalls of any object: template placeholders nobody rendered, namespaced objects without a
 * namespace, and the scenario's workloads (sidecars, service account tokens).
 */
import { gatewayPodLabels } from '../scenario/gateways.js';
import type { Manifest, Workload } from '../scenario/types.js';
import type { DocPath } from '../yaml-source.js';
import { arr, isObject, obj, str } from '../policies/objects.js';
import { isNamespaced, namespaceOf, podTemplate, type LintContext } from './context.js';
import { inNamespace, memo } from './indexes.js';
import { at, type Finding, type Rule } from './types.js';

/** `${tenant}`, `{{ .Values.x }}`, `<tenant-name>` as a whole value. */
const PLACEHOLDER = /\$\{[^}]*\}|\{\{[^}]*\}\}|^<[a-z][\w-]*>$/;

function* strings(
  value: unknown,
  path: (string | number)[] = [],
): Generator<{ path: DocPath; value: string }> {
  if (typeof value === 'string') yield { path, value };
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, [...path, i]);
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) yield* strings(v, [...path, k]);
}

const templatePlaceholder: Rule = {
  id: 'general/template-placeholder',
  severity: 'error',
  summary: 'A template placeholder left in a value',
  help:
    'Kubernetes, Calico and Istio do no templating: ${tenant} is taken literally. In a Calico selector an ' +
    'unquoted ${x} is a parse error and a quoted one matches nothing (tokenizer.go; facts §D(c)).',
  check(ctx) {
    const out: Finding[] = [];
    for (const m of ctx.manifests) {
      for (const s of strings(m.object)) {
        // Multi-line values are code (Lua, scripts); their own syntax may use braces.
        if (s.value.includes('\n')) continue;
        const found = PLACEHOLDER.exec(s.value);
        if (!found) continue;
        out.push(
          at(
            this,
            m,
            s.path,
            `'${found[0]}' in '${s.value}' is a template placeholder, but nothing renders it: the value is used literally and matches nothing`,
            'Render one object per tenant with the real value, or express the intent without a per-object variable (e.g. a namespaceSelector).',
          ),
        );
      }
    }
    return out;
  },
};

const missingNamespace: Rule = {
  id: 'general/missing-namespace',
  severity: 'warning',
  summary: 'A namespaced object without metadata.namespace',
  help: 'kubectl puts it in the namespace of the current context, which differs between people and pipelines.',
  check(ctx) {
    return ctx.manifests
      .filter((m) => isNamespaced(m) && namespaceOf(m) === undefined)
      .map((m) =>
        at(
          this,
          m,
          ['metadata'],
          `${String(m.object.kind)} without metadata.namespace: it lands in whatever namespace the applying context uses`,
          'Set metadata.namespace explicitly.',
        ),
      );
  },
};

function workloadFinding(rule: Rule, w: Workload, message: string, hint: string): Finding {
  return {
    rule: rule.id,
    severity: rule.severity,
    message,
    hint,
    object: { kind: 'Workload', namespace: w.namespace, name: w.name },
    file: w.origin.file,
    line: w.origin.line,
    column: w.origin.column,
  };
}

function podFindings(
  ctx: LintContext,
  rule: Rule,
  test: (
    m: Manifest,
    spec: Record<string, unknown>,
    labels: Record<string, unknown>,
  ) => { path: DocPath; message: string; hint: string } | undefined,
): Finding[] {
  const out: Finding[] = [];
  for (const m of ctx.manifests) {
    const template = podTemplate(m);
    if (!template || !ctx.isTenant(namespaceOf(m))) continue;
    const hit = test(m, template.spec, template.labels);
    if (hit) out.push(at(rule, m, hit.path, hit.message, hit.hint));
  }
  return out;
}

function templatePath(m: Manifest, ...rest: string[]): DocPath {
  return m.object.kind === 'Pod' ? rest : ['spec', 'template', ...rest];
}

const sidecarFree: Rule = {
  id: 'workload/sidecar-free',
  severity: 'warning',
  summary: 'A workload without a sidecar in an injected tenant namespace',
  help:
    'A pod that bypasses the mesh has no identity and sends plaintext; STRICT peers reset it, and policies ' +
    'keyed on identity cannot tell it from an attacker (article: "Sidecar-free workloads in mesh environments").',
  check(ctx) {
    const out: Finding[] = [];
    const namespaces = new Map((ctx.scenario?.namespaces ?? []).map((n) => [n.name, n]));
    for (const w of ctx.scenario?.workloads ?? []) {
      const ns = namespaces.get(w.namespace);
      if (!ns?.tenant || !ns.injection || w.sidecar) continue;
      out.push(
        workloadFinding(
          this,
          w,
          `workload ${w.namespace}/${w.name} runs without a sidecar in injected tenant namespace ${w.namespace}`,
          'Remove sidecar: false unless the pod exists to test plaintext access (as the scenario probes do).',
        ),
      );
    }
    out.push(
      ...podFindings(ctx, this, (m, _spec, labels) => {
        const annotations = obj(
          obj(m.object.kind === 'Pod' ? m.object.metadata : obj(obj(m.object.spec).template).metadata)
            .annotations,
        );
        const off =
          str(labels['sidecar.istio.io/inject']) === 'false' ||
          str(annotations['sidecar.istio.io/inject']) === 'false';
        if (!off || ctx.injection(namespaceOf(m) ?? '') === false) return undefined;
        return {
          path: templatePath(m, 'metadata'),
          message: `sidecar.istio.io/inject: "false" in tenant namespace ${namespaceOf(m) ?? ''}: this pod is outside the mesh`,
          hint: 'Remove the opt-out so the pod gets a sidecar and an identity.',
        };
      }),
    );
    return out;
  },
};

const automountToken: Rule = {
  id: 'workload/automount-token',
  severity: 'warning',
  summary: 'Tenant pods with an automounted service account token',
  help:
    'A mounted token lets code in the pod call the API server as the service account (article: "Service ' +
    'account token exposure"). The Istio sidecar does not need it: it uses its own istio-token (facts §A6).',
  check(ctx) {
    const out: Finding[] = [];
    for (const w of ctx.scenario?.workloads ?? []) {
      if (!w.automountToken || !ctx.isTenant(w.namespace)) continue;
      out.push(
        workloadFinding(
          this,
          w,
          `workload ${w.namespace}/${w.name} mounts its service account token`,
          'Set automountToken: false unless the pod needs the API (the scenario probes mount it to test exactly that).',
        ),
      );
    }
    const saDisabled = (ns: string | undefined, name: string) =>
      (ns === undefined
        ? ctx.manifests.filter((m) => namespaceOf(m) === undefined)
        : inNamespace(ctx, ns)
      ).some(
        (m) =>
          m.object.kind === 'ServiceAccount' &&
          str(obj(m.object.metadata).name) === name &&
          m.object.automountServiceAccountToken === false,
      );
    out.push(
      ...podFindings(ctx, this, (m, spec) => {
        if (spec.automountServiceAccountToken === false) return undefined;
        const sa = str(spec.serviceAccountName) ?? 'default';
        if (spec.automountServiceAccountToken === undefined && saDisabled(namespaceOf(m), sa))
          return undefined;
        return {
          path: templatePath(m, 'spec'),
          message: `pods of ${String(m.object.kind)} ${namespaceOf(m) ?? ''}/${str(obj(m.object.metadata).name) ?? ''} mount the token of service account ${sa}`,
          hint: 'Set automountServiceAccountToken: false in the pod spec (it takes precedence over the ServiceAccount).',
        };
      }),
    );
    return out;
  },
};

/** The label selector of an object that targets workloads, and where it is. */
function workloadSelector(m: Manifest): { path: DocPath; labels: Record<string, unknown> } | undefined {
  const spec = obj(m.object.spec);
  const kind = String(m.object.kind);
  if (
    ['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication'].includes(kind) &&
    spec.selector !== undefined
  ) {
    return { path: ['spec', 'selector'], labels: { ...obj(obj(spec.selector).matchLabels) } };
  }
  if (kind === 'EnvoyFilter' && spec.workloadSelector !== undefined) {
    return { path: ['spec', 'workloadSelector'], labels: { ...obj(obj(spec.workloadSelector).labels) } };
  }
  if (kind === 'NetworkPolicy' && String(m.object.apiVersion).startsWith('networking.k8s.io')) {
    const sel = obj(spec.podSelector);
    if (arr(sel.matchExpressions).length > 0) return undefined;
    return { path: ['spec', 'podSelector'], labels: { ...obj(sel.matchLabels) } };
  }
  return undefined;
}

const POLICY_KINDS = ['AuthorizationPolicy', 'PeerAuthentication', 'EnvoyFilter', 'NetworkPolicy'];

const selectsNothing: Rule = {
  id: 'scenario/selects-nothing',
  severity: 'warning',
  summary: 'A policy that selects no workload of the scenario',
  help:
    'A policy in a namespace the scenario does not have, or whose selector matches none of its workloads (or ingress gateway pods), ' +
    'protects nothing: usually a wrong namespace or label.',
  check(ctx) {
    const scenario = ctx.scenario;
    if (!scenario) return [];
    const out: Finding[] = [];
    const declared = new Set(scenario.namespaces.map((n) => n.name));
    const workloadsIn = memo(ctx, 'general/workloads-by-namespace', () => {
      const byNs = new Map<string, Workload[]>();
      for (const w of scenario.workloads) {
        const list = byNs.get(w.namespace);
        if (list) list.push(w);
        else byNs.set(w.namespace, [w]);
      }
      return byNs;
    });
    for (const m of ctx.manifests) {
      const ns = namespaceOf(m);
      if (ns === undefined || ns === ctx.rootNamespace || !POLICY_KINDS.includes(String(m.object.kind)))
        continue;
      if (!declared.has(ns)) {
        out.push(
          at(
            this,
            m,
            ['metadata', 'namespace'],
            `namespace ${ns} is not a namespace of scenario '${scenario.name}': this ${String(m.object.kind)} applies to nothing the scenario deploys`,
            `Use one of: ${scenario.namespaces.map((n) => n.name).join(', ')}.`,
          ),
        );
        continue;
      }
      const sel = workloadSelector(m);
      if (!sel || Object.keys(sel.labels).length === 0) continue;
      // The pods the scenario deploys there: its workloads and its ingress gateways' pods.
      const pods = [
        ...(workloadsIn.get(ns) ?? []).map((w) => w.labels),
        ...(scenario.gateways ?? []).filter((g) => g.namespace === ns).map((g) => gatewayPodLabels(g.name)),
      ];
      const matches = pods.some((labels) => Object.entries(sel.labels).every(([k, v]) => labels[k] === v));
      if (matches) continue;
      out.push(
        at(
          this,
          m,
          sel.path,
          `selects ${Object.entries(sel.labels)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(', ')} in ${ns}, which no workload of the scenario has`,
          'Check the labels against the workloads (they default to app: <name>).',
        ),
      );
    }
    return out;
  },
};

const duplicateObject: Rule = {
  id: 'general/duplicate-object',
  severity: 'warning',
  summary: 'The same object defined twice',
  help: 'Objects are identified by apiVersion group, kind, namespace and name; applying both keeps only the last one.',
  check(ctx) {
    const seen = new Map<string, Manifest>();
    const out: Finding[] = [];
    for (const m of ctx.manifests) {
      const apiVersion = String(m.object.apiVersion);
      const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
      const key = [
        group,
        String(m.object.kind),
        namespaceOf(m) ?? '',
        str(obj(m.object.metadata).name) ?? '',
      ].join('/');
      const first = seen.get(key);
      if (!first) {
        seen.set(key, m);
        continue;
      }
      out.push(
        at(
          this,
          m,
          ['metadata', 'name'],
          `already defined at ${first.file}:${first.line}: applying both keeps only the one applied last`,
          'Rename one of them, or keep one definition.',
        ),
      );
    }
    return out;
  },
};

export const GENERAL_RULES: readonly Rule[] = [
  templatePlaceholder,
  missingNamespace,
  sidecarFree,
  automountToken,
  selectsNothing,
  duplicateObject,
];
