/**
 * Benchmark of the policy model: T tenants × 20 workloads, a hard-isolation-like bundle per
 * tenant (default deny, DNS/istiod/API egress, same-namespace allow, a Calico tier with the
 * cross-tenant deny and Pass, mesh-wide STRICT mTLS, a DENY on other namespaces and an ALLOW on
 * the tenant's principals), and every workload calling every other workload's port: about a
 * million attempts at 50 tenants. Prints the median of several runs per size.
 *
 *   npm run bench:model                      # 10..50 tenants, 5 runs each
 *   npm run bench:model -- --tenants 50 --runs 7
 *
 * Attempts are generated and predicted one by one (a plan of a million attempts need not be
 * held in memory to be measured); the model's own caches are kept, as in a real plan.
 */
import { performance } from 'node:perf_hooks';

import { PolicyModel } from '../harness/model/evaluate.js';
import { expectation } from '../harness/scenario/outcomes.js';
import type { HttpAttempt, Manifest, Namespace, Origin, Workload } from '../harness/scenario/types.js';
import { parseYaml } from '../harness/yaml-source.js';

const WORKLOADS_PER_TENANT = 20;
const ORIGIN: Origin = { file: 'bench', line: 0, column: 0, path: '' };

function bundle(tenant: string): string {
  const ns = `tenant-${tenant}`;
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: default-deny-all, namespace: ${ns} }
spec: { podSelector: {}, policyTypes: [Ingress, Egress] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-dns-istiod, namespace: ${ns} }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: kube-system } }, podSelector: { matchLabels: { k8s-app: kube-dns } } }]
      ports: [{ protocol: UDP, port: 53 }, { protocol: TCP, port: 53 }]
    - to: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: istio-system } }, podSelector: { matchLabels: { app: istiod } } }]
      ports: [{ protocol: TCP, port: 15012 }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-api, namespace: ${ns} }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ to: [{ ipBlock: { cidr: 172.18.0.0/16 } }], ports: [{ protocol: TCP, port: 6443 }] }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-same-namespace, namespace: ${ns} }
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{ from: [{ podSelector: {} }] }]
  egress: [{ to: [{ podSelector: {} }] }]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: tenant-isolation.${tenant} }
spec:
  tier: tenant-isolation
  order: 100
  namespaceSelector: "projectcalico.org/name == '${ns}'"
  types: [Ingress, Egress]
  ingress:
    - { action: Deny, source: { namespaceSelector: "has(tenant) && tenant != '${tenant}'" } }
    - { action: Pass }
  egress:
    - { action: Deny, destination: { namespaceSelector: "has(tenant) && tenant != '${tenant}'" } }
    - { action: Pass }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-other-namespaces, namespace: ${ns} }
spec:
  action: DENY
  rules: [{ from: [{ source: { notNamespaces: [${ns}] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: allow-own-principals, namespace: ${ns} }
spec:
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/${ns}/sa/*"] } }] }]
---
`;
}

const SHARED = `apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: tenant-isolation }
spec: { order: 100 }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
`;

function manifestsOf(text: string): Manifest[] {
  const parsed = parseYaml(text, 'bench');
  if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join('; '));
  return parsed.documents.flatMap((d) => {
    const object = d.value() as Record<string, unknown> | null;
    return object ? [{ object, file: 'bench', line: d.start().line, source: d }] : [];
  });
}

interface World {
  readonly namespaces: Namespace[];
  readonly workloads: Workload[];
  readonly manifests: Manifest[];
}

function world(tenants: number): World {
  const namespaces: Namespace[] = [];
  const workloads: Workload[] = [];
  let text = SHARED;
  for (let t = 0; t < tenants; t++) {
    const tenant = `t${t}`;
    const ns = `tenant-${tenant}`;
    namespaces.push({ name: ns, labels: { tenant }, injection: true, tenant, origin: ORIGIN });
    for (let w = 0; w < WORKLOADS_PER_TENANT; w++) {
      workloads.push({
        name: `w${w}`,
        namespace: ns,
        labels: { app: `w${w}` },
        serviceAccount: `w${w}`,
        sidecar: true,
        ports: [{ port: 8080, protocol: 'TCP', name: 'http' }],
        automountToken: true,
        probe: false,
        origin: ORIGIN,
      });
    }
    text += `---\n${bundle(tenant)}`;
  }
  return { namespaces, workloads, manifests: manifestsOf(text) };
}

interface Run {
  readonly attempts: number;
  readonly compileMs: number;
  readonly predictMs: number;
  readonly heapMb: number;
  readonly rssMb: number;
  readonly outcomes: Record<string, number>;
}

const EXPECT = expectation(['auto']);
const HTTP = { method: 'GET', path: '/', headers: {} };

function once(w: World): Run {
  const t0 = performance.now();
  const model = new PolicyModel({
    namespaces: w.namespaces,
    workloads: w.workloads,
    meshRootNamespace: 'istio-system',
    trustDomain: 'cluster.local',
    manifests: w.manifests,
  });
  const t1 = performance.now();
  const outcomes: Record<string, number> = {};
  let attempts = 0;
  let rss = process.memoryUsage.rss();
  for (const src of w.workloads) {
    const from = { namespace: src.namespace, name: src.name };
    for (const dst of w.workloads) {
      if (dst === src) continue;
      for (const port of dst.ports) {
        const attempt: HttpAttempt = {
          id: '',
          kind: 'http',
          category: 'cross-tenant',
          from,
          to: { namespace: dst.namespace, name: dst.name },
          port,
          http: HTTP,
          expect: EXPECT,
          timeoutMs: 10_000,
          origin: ORIGIN,
        };
        const p = model.predict(attempt);
        outcomes[p.outcome] = (outcomes[p.outcome] ?? 0) + 1;
        attempts++;
      }
    }
    rss = Math.max(rss, process.memoryUsage.rss());
  }
  const t2 = performance.now();
  return {
    attempts,
    compileMs: t1 - t0,
    predictMs: t2 - t1,
    heapMb: process.memoryUsage().heapUsed / 2 ** 20,
    rssMb: rss / 2 ** 20,
    outcomes,
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const sizes = arg('--tenants') ? [Number(arg('--tenants'))] : [10, 20, 30, 40, 50];
const runs = Number(arg('--runs') ?? 5);
const LIMIT_MS = 10_000;
const LIMIT_MB = 1024;
let failed = false;
console.log(
  'tenants  workloads  attempts    compile ms  predict ms (median of %d)  µs/attempt  peak RSS MB',
  runs,
);
for (const tenants of sizes) {
  const w = world(tenants);
  const results: Run[] = [];
  for (let i = 0; i < runs; i++) results.push(once(w));
  const compile = median(results.map((r) => r.compileMs));
  const predict = median(results.map((r) => r.predictMs));
  const rss = Math.max(...results.map((r) => r.rssMb));
  const first = results[0] as Run;
  console.log(
    `${String(tenants).padStart(7)}  ${String(w.workloads.length).padStart(9)}  ${String(first.attempts).padStart(8)}  ${compile.toFixed(0).padStart(10)}  ${predict.toFixed(0).padStart(10)}                  ${((predict * 1000) / first.attempts).toFixed(2).padStart(10)}  ${rss.toFixed(0).padStart(11)}`,
  );
  console.log(`         outcomes: ${JSON.stringify(first.outcomes)}`);
  if (tenants === 50 && (compile + predict > LIMIT_MS || rss > LIMIT_MB)) failed = true;
}
if (failed) {
  console.error(`over budget at 50 tenants: limits are ${LIMIT_MS} ms and ${LIMIT_MB} MB`);
  process.exitCode = 1;
}
