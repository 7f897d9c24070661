/**
 * Attempt generators: the scenario's shorthand for the attempts its topology implies. Expansion
 * is deterministic (namespaces, workloads and ports in declaration order) and ids are built from
 * names only, so the same scenario always yields the same attempts with the same ids.
 */
import type { DocPath } from '../yaml-source.js';
import {
  escapeCount,
  escapeDrafts,
  isEscapeGenerator,
  type EgressAllowance,
  type EscapeContext,
} from './generators-escape.js';
import {
  expectation,
  OUTCOMES_BY_KIND,
  type AttemptKind,
  type Category,
  type ExpectWord,
} from './outcomes.js';
import { meshed } from './dataplane.js';
import type { Gateway } from './gateways.js';
import type { HttpRequest, RawGenerator } from './schema.js';
import {
  refText,
  type Attempt,
  type GeneratorSummary,
  type Namespace,
  type Origin,
  type Port,
  type Workload,
} from './types.js';

export interface GeneratorContext {
  readonly namespaces: readonly Namespace[];
  readonly workloads: readonly Workload[];
  readonly meshRootNamespace: string;
  readonly trustDomain: string;
  readonly clusterDomain: string;
  readonly defaultTimeoutMs: number;
  /** What the built-in bundle lets tenants reach outside the cluster (its `allowEgress`). @default [] */
  readonly allowEgress?: readonly EgressAllowance[];
  /** The scenario's ingress gateways (`spec.gateways`). @default [] */
  readonly gateways?: readonly Gateway[];
  origin(path: DocPath, generator?: string): Origin;
  problem(path: DocPath, message: string): void;
  warn(path: DocPath, message: string): void;
}

/** What each generator expects unless told otherwise. */
export const DEFAULT_EXPECT: Readonly<Record<RawGenerator['kind'], ExpectWord>> = {
  'cross-tenant': 'denied',
  'intra-tenant': 'allowed',
  'shared-services': 'allowed',
  'header-spoof': 'denied',
  plaintext: 'reset',
  'dns-recon': 'resolved',
  'api-token': 'api-forbidden',
  node: 'denied',
  metadata: 'denied',
  egress: 'denied',
  'pod-ip': 'denied',
  gateway: 'denied',
};

/** A name no Service has, asked for as a control next to the recon queries. */
export const NXDOMAIN_CONTROL_SERVICE = 'bulkhead-no-such-service';

interface Draft {
  readonly id: string;
  readonly kind: AttemptKind;
  readonly category: Category;
  readonly build: (common: Common) => Attempt;
}
type Common = Pick<Attempt, 'id' | 'expect' | 'timeoutMs' | 'explicitTimeout' | 'origin'>;

/**
 * The most attempts one scenario may expand to, explicit and generated together. A run makes
 * every attempt for real (one exec per source pod per round carries them), a plan predicts each
 * and the reports list each: 20,000 is far past any topology a cluster test needs, and keeps
 * validate and plan within seconds and a few hundred megabytes. Checked by counting, before any
 * attempt is built.
 */
export const MAX_ATTEMPTS = 20_000;

export function expandGenerators(
  generators: readonly RawGenerator[],
  explicitAttempts: number,
  ctx: GeneratorContext,
): { attempts: Attempt[]; summaries: GeneratorSummary[] } {
  const attempts: Attempt[] = [];
  const summaries: GeneratorSummary[] = [];
  const plans = generators.map((gen, i) => {
    const at: DocPath = ['spec', 'generators', i];
    const sources = selectSources(gen, ctx, at);
    return { gen, i, at, sources, count: sources ? countDrafts(gen, sources, ctx) : 0 };
  });
  if (tooMany(plans, explicitAttempts, ctx)) return { attempts, summaries };
  for (const { gen, i, at, sources } of plans) {
    const label = `spec.generators[${i}] (${gen.kind})`;
    const origin = ctx.origin(at, label);
    if (!sources) continue;
    const drafts = draftsFor(gen, sources, ctx);
    const words = [gen.expect ?? DEFAULT_EXPECT[gen.kind]].flat();
    const expect = expectation(words);
    const misfit = new Set<string>();
    for (const d of drafts) {
      for (const w of words) {
        if (w !== 'auto' && w !== 'denied' && !(OUTCOMES_BY_KIND[d.kind] as readonly string[]).includes(w)) {
          misfit.add(`'${w}' cannot be the outcome of the ${d.kind} attempts it generates`);
        }
      }
    }
    for (const m of misfit) ctx.problem([...at, 'expect'], m);
    if (gen.kind === 'gateway') {
      const declared = new Set((ctx.gateways ?? []).map((g) => `${g.namespace}/${g.name}`));
      gen.gateways?.forEach((name, k) => {
        if (!declared.has(name))
          ctx.problem([...at, 'gateways', k], `'${name}' is not a gateway of spec.gateways`);
      });
    }
    const excluded = new Set(gen.exclude);
    const ids = new Set(drafts.map((d) => d.id));
    gen.exclude.forEach((id, k) => {
      if (!ids.has(id)) ctx.warn([...at, 'exclude', k], `'${id}' is not an attempt this generator produces`);
    });
    const kept = drafts.filter((d) => !excluded.has(d.id));
    const timeoutMs = gen.timeoutMs ?? ctx.defaultTimeoutMs;
    const explicit = gen.timeoutMs === undefined ? {} : { explicitTimeout: true as const };
    for (const d of kept) attempts.push(d.build({ id: d.id, expect, timeoutMs, ...explicit, origin }));
    if (kept.length === 0) ctx.warn(at, `the ${gen.kind} generator produced no attempts for this topology`);
    summaries.push({ kind: gen.kind, origin, count: kept.length });
  }
  return { attempts, summaries };
}

/**
 * Whether the scenario would expand past {@link MAX_ATTEMPTS}, reported as a problem at its
 * largest generator. Each exclude removes at most one attempt, so the count less the excludes is
 * what the scenario expands to at least.
 */
function tooMany(
  plans: readonly { gen: RawGenerator; i: number; at: DocPath; count: number }[],
  explicitAttempts: number,
  ctx: GeneratorContext,
): boolean {
  const generated = plans.reduce((sum, p) => sum + p.count, 0);
  const excludes = plans.reduce((sum, p) => sum + new Set(p.gen.exclude).size, 0);
  const total = explicitAttempts + generated;
  if (total - excludes <= MAX_ATTEMPTS) return false;
  const largest = plans.reduce((a, b) => (b.count > a.count ? b : a));
  const n = (x: number) => x.toLocaleString('en-US');
  const parts = [
    ...plans.filter((p) => p.count > 0).map((p) => `${p.gen.kind} ${n(p.count)}`),
    ...(explicitAttempts > 0 ? [`explicit ${n(explicitAttempts)}`] : []),
  ];
  ctx.problem(
    largest.at,
    `the scenario would expand to ${excludes > 0 ? `${n(total - excludes)} attempts or more` : `${n(total)} attempts`} (${parts.join(', ')}${excludes > 0 ? `, before ${n(excludes)} excludes` : ''}); bulkhead makes at most ${n(MAX_ATTEMPTS)} per scenario: narrow the generators to fewer sources with 'from', drop generators, leave attempts out with 'exclude', or split the tenants over several scenarios`,
  );
  return true;
}

function selectSources(gen: RawGenerator, ctx: GeneratorContext, at: DocPath): Workload[] | undefined {
  const tenantOf = tenantIndex(ctx);
  if (Array.isArray(gen.from)) {
    const byRef = new Map(ctx.workloads.map((w) => [refText(w), w]));
    const chosen: Workload[] = [];
    let ok = true;
    for (const [k, ref] of gen.from.entries()) {
      const w = byRef.get(ref);
      if (!w) {
        ctx.problem([...at, 'from', k], `names no workload of the scenario: '${ref}'`);
        ok = false;
      } else if (!tenantOf.get(w.namespace)) {
        ctx.problem(
          [...at, 'from', k],
          `'${ref}' is not in a tenant namespace; generators start from tenants`,
        );
        ok = false;
      } else {
        chosen.push(w);
      }
    }
    return ok ? chosen : undefined;
  }
  return ctx.workloads.filter((w) => tenantOf.get(w.namespace) && (gen.from === 'all' || w.probe));
}

function tenantIndex(ctx: GeneratorContext): Map<string, string | undefined> {
  return new Map(ctx.namespaces.map((n) => [n.name, n.tenant]));
}

/** How many attempts a generator makes before its excludes (its sources as the scenario selects them). */
export function generatedCount(gen: RawGenerator, ctx: GeneratorContext): number {
  const sources = selectSources(gen, ctx, ['spec', 'generators']);
  return sources ? countDrafts(gen, sources, ctx) : 0;
}

/**
 * How many drafts {@link draftsFor} makes for these sources, before excludes, computed from
 * per-tenant sums without building any: O(workloads + sources), whatever the product.
 */
function countDrafts(gen: RawGenerator, sources: readonly Workload[], ctx: GeneratorContext): number {
  if (isEscapeGenerator(gen)) return escapeCount(gen, sources, escapeContext(ctx));
  const tenantOf = tenantIndex(ctx);
  const tenant = (w: Workload) => tenantOf.get(w.namespace);
  const targets = ctx.workloads.filter((w) => w.ports.length > 0);
  const tcp = (w: Workload) => tcpPorts(w).length;
  /** Sum of f over targets: all of them, the shared ones (no tenant), and per tenant. */
  const sums = (f: (w: Workload) => number, keep: (w: Workload) => boolean = () => true) => {
    const byTenant = new Map<string, number>();
    let all = 0;
    let shared = 0;
    for (const t of targets) {
      if (!keep(t)) continue;
      const v = f(t);
      all += v;
      const owner = tenant(t);
      if (owner === undefined) shared += v;
      else byTenant.set(owner, (byTenant.get(owner) ?? 0) + v);
    }
    return {
      all,
      shared,
      tenanted: all - shared,
      of: (owner: string | undefined) => (owner === undefined ? 0 : (byTenant.get(owner) ?? 0)),
    };
  };
  const isTarget = (w: Workload) => w.ports.length > 0;
  /** Tenant namespaces in all, and per tenant (a tenant may own several namespaces). */
  const tenantNamespaces = ctx.namespaces.filter((n) => n.tenant);
  const namespacesOf = new Map<string, number>();
  for (const n of tenantNamespaces)
    if (n.tenant) namespacesOf.set(n.tenant, (namespacesOf.get(n.tenant) ?? 0) + 1);
  const otherTenantNamespaces = (src: Workload) => {
    const owner = tenant(src);
    return tenantNamespaces.length - (owner === undefined ? 0 : (namespacesOf.get(owner) ?? 0));
  };
  let count = 0;
  switch (gen.kind) {
    case 'cross-tenant':
    case 'intra-tenant': {
      const ports = sums((w) => w.ports.length);
      for (const src of sources) {
        const own = ports.of(tenant(src));
        count +=
          gen.kind === 'cross-tenant'
            ? ports.tenanted - own
            : own - (isTarget(src) && tenant(src) !== undefined ? src.ports.length : 0);
      }
      break;
    }
    case 'shared-services': {
      count = sources.length * sums(tcp).shared;
      break;
    }
    case 'header-spoof': {
      const ports = sums(tcp);
      for (const src of sources) {
        if (!meshed(src)) continue;
        const self = isTarget(src) ? tcp(src) : 0;
        const wanted =
          gen.to === 'shared'
            ? ports.shared - (isTarget(src) && tenant(src) === undefined ? self : 0)
            : gen.to === 'same-tenant'
              ? ports.of(tenant(src)) - (tenant(src) !== undefined ? self : 0)
              : ports.all - self;
        count += wanted * otherTenantNamespaces(src);
      }
      break;
    }
    case 'plaintext': {
      const ports = sums(tcp, (w) => meshed(w));
      for (const src of sources) {
        if (meshed(src)) continue;
        count +=
          gen.to === 'shared' ? ports.shared : gen.to === 'same-tenant' ? ports.of(tenant(src)) : ports.all;
      }
      break;
    }
    case 'dns-recon': {
      const a = gen.types.includes('A') ? sums(() => 1) : undefined;
      const srv = gen.types.includes('SRV') ? sums((w) => w.ports.filter((p) => p.name).length) : undefined;
      for (const src of sources) {
        if (a) count += a.tenanted - a.of(tenant(src));
        if (srv) count += srv.tenanted - srv.of(tenant(src));
        if (gen.controls) count += 1;
      }
      break;
    }
    case 'api-token': {
      for (const src of sources) {
        for (const request of gen.requests) {
          const perVictim = request.namespace?.includes('{victimNamespace}') ?? false;
          count += perVictim ? otherTenantNamespaces(src) : 1;
        }
      }
      break;
    }
  }
  return count;
}

function escapeContext(ctx: GeneratorContext): EscapeContext {
  const tenantOf = tenantIndex(ctx);
  return {
    workloads: ctx.workloads,
    tenantOf: (w) => tenantOf.get(w.namespace),
    allowEgress: ctx.allowEgress ?? [],
    gateways: ctx.gateways ?? [],
  };
}

function draftsFor(gen: RawGenerator, sources: readonly Workload[], ctx: GeneratorContext): Draft[] {
  if (isEscapeGenerator(gen)) return escapeDrafts(gen, sources, escapeContext(ctx));
  const tenantOf = tenantIndex(ctx);
  const tenant = (w: Workload) => tenantOf.get(w.namespace);
  const targets = ctx.workloads.filter((w) => w.ports.length > 0);
  const shared = targets.filter((w) => !tenant(w));
  const drafts: Draft[] = [];
  const vars = (src: Workload, victim?: Namespace) => ({
    source: tenant(src) ?? '',
    sourceNamespace: src.namespace,
    victim: victim?.tenant ?? '',
    victimNamespace: victim?.name ?? '',
    trustDomain: ctx.trustDomain,
  });

  switch (gen.kind) {
    case 'cross-tenant':
    case 'intra-tenant': {
      for (const src of sources) {
        const wanted = targets.filter((t) =>
          gen.kind === 'cross-tenant'
            ? tenant(t) !== undefined && tenant(t) !== tenant(src)
            : tenant(t) === tenant(src) && refText(t) !== refText(src),
        );
        for (const dst of wanted) {
          for (const port of dst.ports) {
            const id = `${gen.kind}:${refText(src)}->${refText(dst)}:${port.port}`;
            drafts.push(
              connection(id, gen.kind, src, dst, port, port.protocol === 'UDP' ? 'udp' : gen.as, gen.http),
            );
          }
        }
      }
      break;
    }
    case 'shared-services': {
      for (const src of sources) {
        for (const dst of shared) {
          for (const port of tcpPorts(dst)) {
            const id = `shared-services:${refText(src)}->${refText(dst)}:${port.port}`;
            drafts.push(
              connection(id, 'shared-services', src, dst, port, 'http', fillRequest(gen.http, vars(src))),
            );
          }
        }
      }
      break;
    }
    case 'header-spoof': {
      const victims = ctx.namespaces.filter((n) => n.tenant);
      for (const src of sources.filter((s) => meshed(s))) {
        const wanted = targets.filter((t) =>
          gen.to === 'shared' ? !tenant(t) : gen.to === 'same-tenant' ? tenant(t) === tenant(src) : true,
        );
        for (const dst of wanted) {
          if (refText(dst) === refText(src)) continue;
          for (const port of tcpPorts(dst)) {
            for (const victim of victims) {
              if (victim.tenant === tenant(src)) continue;
              const id = `header-spoof:${refText(src)}->${refText(dst)}:${port.port}:as-${victim.name}`;
              drafts.push(
                connection(
                  id,
                  'header-spoof',
                  src,
                  dst,
                  port,
                  'http',
                  fillRequest(gen.http, vars(src, victim)),
                ),
              );
            }
          }
        }
      }
      break;
    }
    case 'plaintext': {
      for (const src of sources.filter((s) => !meshed(s))) {
        const wanted = targets.filter(
          (t) =>
            meshed(t) &&
            (gen.to === 'shared' ? !tenant(t) : gen.to === 'same-tenant' ? tenant(t) === tenant(src) : true),
        );
        for (const dst of wanted) {
          for (const port of tcpPorts(dst)) {
            const id = `plaintext:${refText(src)}->${refText(dst)}:${port.port}`;
            drafts.push(connection(id, 'plaintext', src, dst, port, 'http', gen.http));
          }
        }
      }
      break;
    }
    case 'dns-recon': {
      for (const src of sources) {
        for (const dst of targets.filter((t) => tenant(t) !== undefined && tenant(t) !== tenant(src))) {
          const host = `${dst.name}.${dst.namespace}.svc.${ctx.clusterDomain}`;
          if (gen.types.includes('A')) drafts.push(dns(src, 'A', host));
          if (gen.types.includes('SRV')) {
            for (const port of dst.ports.filter((p) => p.name)) {
              drafts.push(dns(src, 'SRV', `_${port.name ?? ''}._${port.protocol.toLowerCase()}.${host}`));
            }
          }
        }
        if (gen.controls) {
          const name = `${NXDOMAIN_CONTROL_SERVICE}.${src.namespace}.svc.${ctx.clusterDomain}`;
          drafts.push(dns(src, 'A', name, ['nxdomain']));
        }
      }
      break;
    }
    case 'api-token': {
      for (const src of sources) {
        const victims = ctx.namespaces.filter((n) => n.tenant && n.tenant !== tenant(src));
        for (const request of gen.requests) {
          const perVictim = request.namespace?.includes('{victimNamespace}') ?? false;
          for (const victim of perVictim ? victims : [undefined]) {
            const namespace =
              request.namespace === undefined ? undefined : fill(request.namespace, vars(src, victim));
            const filled = { ...request, ...(namespace === undefined ? {} : { namespace }) };
            const id = `api-token:${refText(src)}:${request.verb}-${request.resource.replace('/', '-')}${namespace ? `@${namespace}` : ''}`;
            drafts.push({
              id,
              kind: 'api',
              category: 'api-token',
              build: (c) => ({ ...c, kind: 'api', category: 'api-token', from: ref(src), request: filled }),
            });
          }
        }
      }
      break;
    }
  }
  return drafts;
}

function dns(src: Workload, type: 'A' | 'SRV', name: string, expectOverride?: ExpectWord[]): Draft {
  const id = `dns-recon:${refText(src)}:${type}:${name}`;
  return {
    id,
    kind: 'dns',
    category: 'dns-recon',
    build: (c) => ({
      ...c,
      ...(expectOverride ? { expect: expectation(expectOverride) } : {}),
      kind: 'dns',
      category: 'dns-recon',
      from: ref(src),
      query: { name, type },
    }),
  };
}

function connection(
  id: string,
  category: Category,
  src: Workload,
  dst: Workload,
  port: Port,
  kind: 'http' | 'tcp' | 'udp',
  http: HttpRequest,
): Draft {
  return {
    id,
    kind,
    category,
    build: (c) => {
      const base = { ...c, category, from: ref(src), to: ref(dst), port };
      if (kind === 'http') return { ...base, kind, http };
      return kind === 'tcp' ? { ...base, kind } : { ...base, kind };
    },
  };
}

function tcpPorts(w: Workload): Port[] {
  return w.ports.filter((p) => p.protocol === 'TCP');
}

function ref(w: Workload) {
  return { namespace: w.namespace, name: w.name };
}

const PLACEHOLDER = /\{(source|sourceNamespace|victim|victimNamespace|trustDomain)\}/g;

export function fill(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => vars[name] ?? '');
}

function fillRequest(http: HttpRequest, vars: Readonly<Record<string, string>>): HttpRequest {
  return {
    ...http,
    path: fill(http.path, vars),
    headers: Object.fromEntries(Object.entries(http.headers).map(([k, v]) => [k, fill(v, vars)])),
    ...(http.body === undefined ? {} : { body: fill(http.body, vars) }),
  };
}
