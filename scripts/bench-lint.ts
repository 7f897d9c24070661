/**
 * Benchmark of `bulkhead lint` on many manifests: N objects (default 20,000) in one file per
 * tenant, ten per tenant as a hard-isolation-like bundle (a Namespace, default deny, DNS and
 * same-namespace NetworkPolicies, a Calico GlobalNetworkPolicy in a tier, namespace STRICT
 * mTLS, a DENY of other namespaces, an ALLOW of named principals, a Deployment and its Service),
 * plus the shared objects (the tier, mesh-wide STRICT mTLS). Reads and parses the folder as
 * `bulkhead lint <folder>` does, lints it, and prints the median of several runs.
 *
 *   npm run bench:lint                          # 20,000 manifests, 3 runs
 *   npm run bench:lint -- --manifests 4000 --runs 5
 *
 * The budget is 10 s for reading and linting 20,000 manifests on a 2-core machine; the script
 * exits 1 when the median is over it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { lintManifests } from '../harness/lint/index.js';
import { readManifestPaths } from '../harness/policies/read-manifests.js';

const PER_TENANT = 10;

function bundle(t: number): string {
  const tenant = `t${t}`;
  const ns = `tenant-${tenant}`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: ${ns}, labels: { tenant: ${tenant}, istio-injection: enabled } }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: default-deny-all, namespace: ${ns} }
spec: { podSelector: {}, policyTypes: [Ingress, Egress] }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-dns, namespace: ${ns} }
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: kube-system } }, podSelector: { matchLabels: { k8s-app: kube-dns } } }]
      ports: [{ protocol: UDP, port: 53 }, { protocol: TCP, port: 53 }]
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
kind: PeerAuthentication
metadata: { name: default, namespace: ${ns} }
spec: { mtls: { mode: STRICT } }
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
metadata: { name: api-gateway, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: api-gateway } }
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/${ns}/sa/frontend-service"] } }]
      to: [{ operation: { methods: [GET, POST], paths: ["/api/v1/orders/*"] } }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api-gateway, namespace: ${ns} }
spec:
  selector: { matchLabels: { app: api-gateway } }
  template:
    metadata: { labels: { app: api-gateway } }
    spec:
      serviceAccountName: api-gateway
      containers: [{ name: app, image: registry.example/api-gateway:1.0, ports: [{ containerPort: 8080 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: api-gateway, namespace: ${ns} }
spec:
  selector: { app: api-gateway }
  ports: [{ name: http, port: 8080, targetPort: 8080 }]
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

/** Writes the folder: `shared.yaml` and one file per tenant; returns it and the object count. */
async function writeFolder(manifests: number): Promise<{ dir: string; objects: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-bench-lint-'));
  await writeFile(path.join(dir, 'shared.yaml'), SHARED);
  const tenants = Math.max(1, Math.round((manifests - 2) / PER_TENANT));
  for (let t = 0; t < tenants; t++) {
    await writeFile(path.join(dir, `tenant-${String(t).padStart(5, '0')}.yaml`), bundle(t));
  }
  return { dir, objects: 2 + tenants * PER_TENANT };
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

const wanted = Number(arg('--manifests') ?? 20_000);
const runs = Number(arg('--runs') ?? 3);
const LIMIT_MS = 10_000;

const { dir, objects } = await writeFolder(wanted);
try {
  const read: number[] = [];
  const lint: number[] = [];
  let findings = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const manifests = await readManifestPaths([dir], dir);
    const t1 = performance.now();
    findings = lintManifests(manifests).length;
    const t2 = performance.now();
    read.push(t1 - t0);
    lint.push(t2 - t1);
  }
  const total = median(read.map((r, i) => r + (lint[i] ?? 0)));
  console.log(
    `manifests  read+parse ms  lint ms  total ms (median of ${runs})  findings  peak RSS MB\n` +
      `${String(objects).padStart(9)}  ${median(read).toFixed(0).padStart(13)}  ${median(lint).toFixed(0).padStart(7)}  ${total.toFixed(0).padStart(8)}                ${String(findings).padStart(8)}  ${(process.resourceUsage().maxRSS / 1024).toFixed(0).padStart(11)}`,
  );
  if (objects >= 20_000 && total > LIMIT_MS) {
    console.error(
      `over budget: ${objects} manifests took ${total.toFixed(0)} ms; the limit is ${LIMIT_MS} ms`,
    );
    process.exitCode = 1;
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
