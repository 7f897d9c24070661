/**
 * A results.json document made in code, as large as the report must lay out: four tenants with
 * four services each and two shared services (18 destination columns), every source tenant
 * dialling every service (several attempts per pair, allowed and denied mixed), DNS queries and
 * API requests without a destination workload, a leak, a broken allowed path, a probe error with
 * its cause, and evidence long enough to wrap. Checked against the results schema, so the report
 * tests lay out what a run can write. Variants: an interrupted run, and a run with no attempts.
 */
import {
  ResultsDocumentSchema,
  type AttemptEntry,
  type ResultsDocument,
} from '../../harness/results/results-model.js';
import { layerOf } from '../../harness/results/layers.js';
import type { Outcome } from '../../harness/scenario/outcomes.js';

export const TENANTS = ['acme', 'globex', 'initech', 'umbrella'] as const;
export const TENANT_SERVICES = [
  { name: 'api', port: 8080 },
  { name: 'payments-gateway', port: 8443 },
  { name: 'orders-db', port: 5432 },
  { name: 'frontend', port: 80 },
] as const;
export const SHARED_NAMESPACE = 'platform-shared';
export const SHARED_SERVICES = [
  { name: 'log-collector', port: 24224 },
  { name: 'metrics-aggregator-for-every-tenant', port: 9090 },
] as const;

const START = Date.parse('2026-12-01T02:00:00.000Z');
const at = (s: number) => new Date(START + s * 1000).toISOString();

const REASONS: Readonly<Record<Outcome, string>> = {
  allowed: 'the server answered 200: the request got through to the app',
  'denied-l7': 'Envoy answered 403 "RBAC: access denied": Istio authorization denied it',
  'denied-l4': 'no answer before the deadline: the network dropped it',
  reset: 'the connection was reset: the peer requires mTLS',
  refused: 'connection refused: nothing listens there, or the network rejects it',
  resolved: 'the name resolved',
  nxdomain: 'NXDOMAIN: the name does not exist',
  'api-forbidden': 'the API server answered 403 Forbidden',
  'api-allowed': 'the API server answered 200',
  error:
    'Envoy answered 503 itself with a reply that is neither an RBAC deny nor an upstream connect failure',
};

const DENIED: Outcome[] = ['denied-l7', 'denied-l4', 'reset', 'refused'];

interface Spec {
  readonly id: string;
  readonly kind: AttemptEntry['kind'];
  readonly category: AttemptEntry['category'];
  readonly from: string;
  readonly to?: { namespace: string; name: string; port: number };
  readonly target?: string;
  readonly expect: 'allowed' | 'denied' | 'resolved' | 'nxdomain' | 'api-forbidden' | 'api-allowed';
  readonly outcome: Outcome;
  /** `leak`: a must-deny attempt seen allowed in round 1; `broken`: an allowed path denied; `error`. */
  readonly twist?: 'leak' | 'broken' | 'error';
  readonly evidence?: Record<string, unknown>;
}

let line = 10;

function entry(s: Spec): AttemptEntry {
  const [namespace = '', name = ''] = s.from.split('/');
  const expectedOutcomes: Outcome[] = s.expect === 'denied' ? DENIED : [s.expect];
  const mustDeny = s.expect === 'denied' || s.expect === 'api-forbidden' || s.expect === 'nxdomain';
  const verdict =
    s.twist === 'leak' || s.twist === 'broken' ? 'fail' : s.twist === 'error' ? 'error' : 'pass';
  const rounds = s.twist === 'leak' ? 1 : 3;
  const observations = Array.from({ length: rounds }, (_, i) => ({
    round: i + 1,
    outcome: s.outcome,
    at: at(10 + i * 2),
    reason: REASONS[s.outcome],
  }));
  const reason =
    s.twist === 'leak'
      ? `leak: expected ${s.expect}, observed ${s.outcome} in round 1`
      : s.twist === 'broken'
        ? `expected ${s.expect}, observed ${s.outcome} in the last 3 rounds`
        : s.twist === 'error'
          ? 'the probe failed in round 3'
          : `${s.outcome} in the last 3 rounds`;
  return {
    id: s.id,
    category: s.category,
    kind: s.kind,
    from: { namespace, name },
    ...(s.to ? { to: { namespace: s.to.namespace, name: s.to.name }, port: s.to.port } : {}),
    target: s.target ?? `${s.to?.namespace ?? ''}/${s.to?.name ?? ''}:${s.to?.port ?? 0}`,
    expect: s.expect,
    expectedOutcomes,
    mustDeny,
    verdict,
    outcome: s.outcome,
    layer: layerOf(s.outcome),
    rounds,
    stable: s.twist !== 'leak',
    leak: s.twist === 'leak',
    reason,
    firstObservedAt: observations[0]?.at,
    lastObservedAt: observations.at(-1)?.at,
    observations,
    evidence: s.evidence ?? { status: s.outcome === 'allowed' ? 200 : 403, phase: 'done' },
    ...(verdict === 'pass'
      ? {}
      : {
          diagnostics: {
            source: {
              pod: `${namespace}/${name}-7c9f8d6b5d-x2k9q`,
              phase: 'Running',
              conditions: ['PodScheduled=True', 'Initialized=True', 'ContainersReady=True', 'Ready=True'],
              containers: ['agent: ready, running, restarts 0', 'istio-proxy: ready, running, restarts 0'],
              events: [],
              proxyLog:
                '[2026-12-01T02:00:12.000Z] "GET /api/v1/orders/1 HTTP/1.1" 200 - via_upstream - "-" 0 11 3 2\n[2026-12-01T02:00:14.000Z] "GET /api/v1/orders/1 HTTP/1.1" 200 - via_upstream - "-" 0 11 2 1',
            },
            ...(s.to
              ? {
                  destination: {
                    pod: `${s.to.namespace}/${s.to.name}-5f6d7c8b9a-p0q1r`,
                    phase: 'Running',
                    conditions: ['PodScheduled=True', 'Ready=True'],
                    containers: [
                      'app: ready, running, restarts 0',
                      'istio-proxy: ready, running, restarts 0',
                    ],
                    events: [
                      'Normal Pulled: Container image "registry.example/app@sha256:' +
                        'ab'.repeat(32) +
                        '" already present',
                    ],
                    proxyLog: '',
                  },
                }
              : {}),
            policies: [
              `AuthorizationPolicy ${s.to?.namespace ?? namespace}/allow-same-tenant`,
              `NetworkPolicy ${s.to?.namespace ?? namespace}/default-deny`,
            ],
            reproduce: `kubectl exec -n ${namespace} ${name}-7c9f8d6b5d-x2k9q -c agent -i -- node /agent/bulkhead-agent.mjs probe --concurrency 1 <<<'${JSON.stringify([{ id: s.id, timeoutMs: 15000, host: `${s.to?.name ?? 'x'}.${s.to?.namespace ?? 'x'}.svc.cluster.local`, port: s.to?.port ?? 0, sidecar: true, kind: s.kind }])}'`,
          },
        }),
    origin: { file: 'scenarios/generated.yaml', line: line++ },
  };
}

/** The attempts: every tenant to every service, then DNS and API. */
function attempts(): AttemptEntry[] {
  const out: Spec[] = [];
  const services = [
    ...TENANTS.flatMap((t) => TENANT_SERVICES.map((s) => ({ namespace: `tenant-${t}`, owner: t, ...s }))),
    ...SHARED_SERVICES.map((s) => ({ namespace: SHARED_NAMESPACE, owner: undefined, ...s })),
  ];
  for (const tenant of TENANTS) {
    const from = `tenant-${tenant}/client`;
    for (const s of services) {
      const to = { namespace: s.namespace, name: s.name, port: s.port };
      const base = `${tenant}-to-${s.namespace.replace('tenant-', '')}-${s.name}`;
      const own = s.owner === tenant;
      const push = (n: number, spec: Omit<Spec, 'id' | 'kind' | 'category' | 'from' | 'to'>) => {
        for (let i = 0; i < n; i++)
          out.push({
            id: `${base}-${spec.outcome}-${out.length}`,
            kind: s.name === 'orders-db' ? 'tcp' : 'http',
            category: s.owner === undefined ? 'shared-services' : own ? 'intra-tenant' : 'cross-tenant',
            from,
            to,
            ...spec,
          });
      };
      if (s.owner === undefined) {
        if (s.name === 'log-collector') push(1, { expect: 'allowed', outcome: 'allowed' });
        else push(2, { expect: 'denied', outcome: 'denied-l4' });
      } else if (own) {
        if (s.name === 'api') {
          // The mixed cell: reads allowed, writes refused by Istio, every expectation held.
          push(2, { expect: 'allowed', outcome: 'allowed' });
          push(4, { expect: 'denied', outcome: 'denied-l7' });
        } else if (tenant === 'initech' && s.name === 'frontend') {
          push(1, { expect: 'allowed', outcome: 'denied-l4', twist: 'broken' });
        } else push(1, { expect: 'allowed', outcome: 'allowed' });
      } else if (tenant === 'globex' && s.namespace === 'tenant-acme' && s.name === 'payments-gateway') {
        push(1, {
          expect: 'denied',
          outcome: 'allowed',
          twist: 'leak',
          evidence: {
            status: 200,
            body: 'x'.repeat(40) + '{"card":"' + '4'.repeat(16) + '"}' + 'y'.repeat(300),
            headers: Object.fromEntries(
              Array.from({ length: 8 }, (_, i) => [`x-envoy-upstream-header-${i}`, 'v'.repeat(40)]),
            ),
            target: '10.96.120.34:8443',
            phase: 'done',
          },
        });
        push(2, { expect: 'denied', outcome: 'denied-l7' });
      } else if (tenant === 'umbrella' && s.namespace === 'tenant-initech' && s.name === 'orders-db') {
        push(1, {
          expect: 'denied',
          outcome: 'error',
          twist: 'error',
          evidence: { status: 503, body: 'no healthy upstream' },
        });
        push(1, { expect: 'denied', outcome: 'refused' });
      } else if (s.name === 'api') {
        push(2, { expect: 'denied', outcome: 'denied-l7' });
        push(1, { expect: 'denied', outcome: 'denied-l4' });
      } else if (s.name === 'payments-gateway') push(1, { expect: 'denied', outcome: 'reset' });
      else if (s.name === 'orders-db') push(1, { expect: 'denied', outcome: 'refused' });
      else push(1, { expect: 'denied', outcome: 'denied-l4' });
    }
    for (const other of TENANTS)
      out.push({
        id: `${tenant}-resolves-${other}-api-${out.length}`,
        kind: 'dns',
        category: 'dns-recon',
        from,
        target: `A api.tenant-${other}.svc.cluster.local`,
        expect: 'resolved',
        outcome: 'resolved',
        evidence: { dns: { answers: ['10.96.0.10'] } },
      });
    out.push({
      id: `${tenant}-srv-recon-${out.length}`,
      kind: 'dns',
      category: 'dns-recon',
      from,
      target: 'SRV _grpc._tcp.payments-gateway.tenant-acme.svc.cluster.local',
      expect: 'nxdomain',
      outcome: 'nxdomain',
    });
    for (const other of TENANTS.filter((o) => o !== tenant))
      out.push({
        id: `${tenant}-lists-${other}-pods-${out.length}`,
        kind: 'api',
        category: 'api-token',
        from,
        target: `list pods -n tenant-${other}`,
        expect: 'api-forbidden',
        outcome: 'api-forbidden',
      });
    out.push({
      id: `${tenant}-reads-secrets-${out.length}`,
      kind: 'api',
      category: 'api-token',
      from,
      target: 'get secrets -n kube-system',
      expect: 'api-forbidden',
      outcome: 'api-forbidden',
    });
  }
  line = 10;
  return out.map(entry);
}

function summary(list: readonly AttemptEntry[]): ResultsDocument['summary'] {
  const count = (v: AttemptEntry['verdict']) => list.filter((a) => a.verdict === v).length;
  return {
    attempts: list.length,
    passed: count('pass'),
    failed: count('fail'),
    errors: count('error'),
    skipped: count('skipped'),
    notJudged: count('not-judged'),
    leaks: list.filter((a) => a.leak).length,
  };
}

/** The whole document, valid against the results schema. */
export function generatedDocument(list: readonly AttemptEntry[] = attempts()): ResultsDocument {
  const doc: ResultsDocument = {
    v: 1,
    kind: 'bulkhead-results',
    run: {
      id: 'generated-4x16',
      startedAt: at(0),
      endedAt: at(60),
      exitCode: 1,
      interrupted: false,
      kept: false,
      trigger: 'scheduled',
    },
    scope: {
      provider: 'existing',
      environment: 'replica',
      cluster: 'https://10.0.0.1:6443',
      tenants: [...TENANTS],
      namespaces: [...TENANTS.map((t) => ({ name: `tenant-${t}`, tenant: t })), { name: SHARED_NAMESPACE }],
      services: [
        ...TENANTS.flatMap((t) =>
          TENANT_SERVICES.map((s) => ({ namespace: `tenant-${t}`, name: s.name, ports: [s.port] })),
        ),
        ...SHARED_SERVICES.map((s) => ({ namespace: SHARED_NAMESPACE, name: s.name, ports: [s.port] })),
      ],
      outOfScope: [],
      policies: ['NetworkPolicy tenant-acme/default-deny'],
    },
    versions: { bulkhead: '0.1.0', node: 'v24.21.0', images: {} },
    method: {
      scenario: { name: 'generated-4x16', file: 'scenarios/generated.yaml', sha256: 'e'.repeat(64) },
      defaultAttemptTimeoutMs: 15000,
      stableRounds: 3,
      convergenceRule: 'the same outcome in 3 consecutive rounds',
    },
    summary: summary(list),
    attempts: [...list],
  };
  return ResultsDocumentSchema.parse(doc);
}

/**
 * The same run interrupted: the first `observedOnce` attempts seen in one round only (never
 * settled: not judged, as build-results.ts writes them), and every attempt from `neverFrom` on not attempted; the failures and the
 * error kept when `failures`, or left out.
 */
export function interruptedDocument(
  options: { failures?: boolean; observedOnce?: number; neverFrom?: number } = {},
): ResultsDocument {
  const { failures = false, observedOnce = 10, neverFrom = 40 } = options;
  const base = generatedDocument();
  const kept = base.attempts.filter((a) => failures || a.verdict === 'pass');
  const list = kept.map((a, i): AttemptEntry => {
    if (a.verdict !== 'pass') return a;
    if (i >= neverFrom)
      return {
        ...a,
        verdict: 'skipped',
        outcome: 'error',
        layer: 'none',
        rounds: 0,
        stable: false,
        reason: 'not attempted: the run was interrupted first',
        observations: [],
        firstObservedAt: undefined,
        lastObservedAt: undefined,
        evidence: undefined,
      };
    if (i < observedOnce)
      return {
        ...a,
        verdict: 'not-judged',
        rounds: 1,
        stable: false,
        observations: a.observations.slice(0, 1),
        lastObservedAt: a.firstObservedAt,
        reason: `not judged: the run was interrupted before the outcome settled (did not settle in 1 round(s): observed ${a.outcome}, each satisfying the expectation)`,
      };
    return a;
  });
  const doc = generatedDocument(list.map((a) => JSON.parse(JSON.stringify(a)) as AttemptEntry));
  return ResultsDocumentSchema.parse({
    ...doc,
    run: { ...doc.run, id: 'generated-interrupted', interrupted: true, exitCode: 1 },
  });
}

/** A run of a scenario with no attempts: nothing was tested. */
export function emptyDocument(): ResultsDocument {
  const doc = generatedDocument([]);
  return { ...doc, run: { ...doc.run, id: 'generated-empty', exitCode: 0 } };
}

/**
 * The same run with all 18 services in one namespace, more than one matrix holds: the report
 * must split it (`services 1–7 of 18`, ...), not widen it.
 */
export function oneNamespaceDocument(): ResultsDocument {
  const doc = generatedDocument();
  const moved = (ns: string, name: string) =>
    ns === SHARED_NAMESPACE ? name : `${ns.replace('tenant-', '')}-${name}`;
  const attempts = doc.attempts.map((a): AttemptEntry =>
    a.to
      ? {
          ...a,
          to: { namespace: SHARED_NAMESPACE, name: moved(a.to.namespace, a.to.name) },
          target: `${SHARED_NAMESPACE}/${moved(a.to.namespace, a.to.name)}:${a.port ?? 0}`,
        }
      : a,
  );
  return ResultsDocumentSchema.parse({
    ...doc,
    run: { ...doc.run, id: 'generated-one-namespace' },
    scope: {
      ...doc.scope,
      services: doc.scope.services.map((s) => ({
        ...s,
        namespace: SHARED_NAMESPACE,
        name: moved(s.namespace, s.name),
      })),
    },
    attempts,
  });
}

/**
 * The run with segments declared: acme is the cardholder data environment, the other tenants
 * corporate, the shared namespace a segment of its own. corp → cde crosses globex's leak into
 * acme (FAILED), cde → corp holds, and nothing goes from shared to cde (NOT TESTED). A tester
 * and an out-of-scope system are stated.
 */
export function segmentedDocument(): ResultsDocument {
  const doc = generatedDocument();
  return ResultsDocumentSchema.parse({
    ...doc,
    run: {
      ...doc.run,
      id: 'generated-segments',
      tester: {
        name: 'Dana Auditor',
        organisation: 'Example QSA Ltd',
        independence: 'external assessor; no role in operating the cluster',
      },
    },
    scope: {
      ...doc.scope,
      outOfScope: ['payments database (managed, outside the cluster): covered by the provider report'],
      segments: [
        { name: 'cde', description: 'cardholder data environment', namespaces: ['tenant-acme'] },
        {
          name: 'corp',
          description: 'corporate tenants',
          namespaces: ['tenant-globex', 'tenant-initech', 'tenant-umbrella'],
        },
        { name: 'shared', namespaces: [SHARED_NAMESPACE] },
      ],
      isolate: [
        { from: 'corp', to: 'cde' },
        { from: 'cde', to: 'corp' },
        { from: 'shared', to: 'cde' },
      ],
    },
  });
}
