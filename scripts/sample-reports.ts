/**
 * `npm run samples`: the sample reports in docs/samples/ (report.html, junit.xml, results.json and
 * the scenario.yaml they came from), made by a real `bulkhead run --provider existing` session
 * against the fake API server of the tests (test/support/fake-apiserver/), whose exec runs the
 * real agent bundle as a local process and whose "network" sends each attempt to a loopback
 * server that answers as the story below needs. Only loopback is dialled.
 *
 * The story, so that every state a report can show shows (STORY, checked on every run): tenants
 * acme, globex and initech, an Istio AuthorizationPolicy on acme's api and a NetworkPolicy on
 * globex's; globex's client is refused at L7 by acme's api (Envoy's RBAC 403: pass, denied-l7);
 * acme's client is refused by globex's api (connection refused: pass, at L4); acme's client
 * reaches its own api (intra-tenant, allowed: pass); acme's client gets an answer from globex's
 * metrics port, which the scenario says must be denied (a leak: fail); and initech's batch gets
 * Envoy's own 503 "no healthy upstream", which no rule of the agent's judges (a probe error).
 * The run exits 1 (a failure outranks the error). The fake network plays Calico only as far as
 * the run's network canary needs (a port a stored GlobalNetworkPolicy denies is refused), and the
 * stand-in istiod (test/support/istiod.ts) answers the mesh barrier's /debug/syncz reads.
 *
 * Deterministic output, so that test/ci/samples.test.ts can hold the committed files to what
 * this script makes:
 * - Time is the run's injected clock (harness/run/clock.ts): it starts at SAMPLE_START and moves
 *   only when the run sleeps (settle, the pause between rounds), by exactly what it asked.
 * - The run id, the trigger and the cluster's name are given as `bulkhead run` takes them
 *   (`--run-id`, the environment's trigger and clusterName).
 * - The few fields that still differ from one run to the next are replaced in one place,
 *   `normalise()` below, in the run's records, before results.json and the reports are folded
 *   from them (harness/run/report-run.ts): so the three files agree with each other, as a real
 *   run's do.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadAgentBundle } from '../harness/cli/shared.js';
import { RESULTS_LOG, readResultsRecords } from '../harness/results/records.js';
import type { RunClock } from '../harness/run/clock.js';
import { agentImage } from '../harness/run/fixtures.js';
import { createProgress } from '../harness/run/progress.js';
import { reportRun } from '../harness/run/report-run.js';
import { RunSession } from '../harness/run/session.js';
import { loadScenario } from '../harness/scenario/loader.js';
import { FakeApiServer } from '../test/support/fake-apiserver/server.js';
import { putReadyCluster } from '../test/support/existing-cluster.js';
import { FakeIstiod } from '../test/support/istiod.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../test/support/fake-cluster.js';

export const SAMPLE_FILES = ['scenario.yaml', 'results.json', 'junit.xml', 'report.html'] as const;

/** Where `npm run samples` writes, and what the scenario's file is called in the reports. */
export const SAMPLES_DIR = 'docs/samples';
const RUN_ID = 'sample';
const SAMPLE_START = Date.parse('2026-12-01T03:17:00.000Z');

export const SAMPLE_SCENARIO = `# The scenario of the sample reports in this folder (made by \`npm run samples\`, see
# scripts/sample-reports.ts): three tenants, and one attempt for each state a report shows.
apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata:
  name: three-tenants
  description: >-
    A refusal at L7 and one at L4, allowed traffic within a tenant, a leak through a port the
    policies forgot, and a probe that could not run.
spec:
  tenants:
    - name: acme
      probes: false
      workloads:
        - { name: client }
        - { name: api, ports: [8080] }
    - name: globex
      probes: false
      workloads:
        - { name: client }
        - { name: api, ports: [8080, 9090] }
    - name: initech
      probes: false
      workloads:
        - { name: batch }
  policies:
    # acme's api admits acme's own workloads only (Istio: a 403 at L7 for anyone else).
    - inline: |
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: { name: api-same-tenant, namespace: tenant-acme }
        spec:
          selector: { matchLabels: { app: api } }
          action: ALLOW
          rules: [{ from: [{ source: { namespaces: [tenant-acme] } }] }]
    # globex's api takes 8080 from globex only; its metrics port 9090 was left open to all.
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: api-ingress, namespace: tenant-globex }
        spec:
          podSelector: { matchLabels: { app: api } }
          policyTypes: [Ingress]
          ingress:
            - from: [{ podSelector: {} }]
              ports: [{ port: 8080 }]
            - ports: [{ port: 9090 }]
  attempts:
    - id: globex-to-acme-api
      kind: http
      from: tenant-globex/client
      to: tenant-acme/api
      http: { method: GET, path: /api/v1/orders/1 }
      expect: denied-l7
    - id: acme-to-globex-api
      kind: http
      from: tenant-acme/client
      to: tenant-globex/api
      port: 8080
      expect: denied
    - id: acme-reads-own-orders
      kind: http
      from: tenant-acme/client
      to: tenant-acme/api
      http: { method: GET, path: /api/v1/orders/1 }
      expect: allowed
    - id: acme-to-globex-metrics
      kind: http
      from: tenant-acme/client
      to: tenant-globex/api
      port: 9090
      http: { method: GET, path: /metrics }
      expect: denied
    - id: initech-to-acme-api
      kind: http
      from: tenant-initech/batch
      to: tenant-acme/api
      expect: denied
  # Each tenant is a segment of its own; the report opens with a row per direction declared here.
  segments:
    - { name: acme, description: cardholder data environment, namespaces: [tenant-acme] }
    - { name: globex, namespaces: [tenant-globex] }
    - { name: initech, namespaces: [tenant-initech] }
  isolate:
    - { from: globex, to: [acme] }
    - { from: initech, to: [acme] }
    - { from: acme, to: [globex] }
  outOfScope:
    - { name: the cluster's nodes and control plane, reason: managed by the provider }
`;

/** Istio's AuthorizationPolicy as a CRD that keeps what it is given, as the cluster tests serve it. */
const ISTIO_AUTHZ_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'authorizationpolicies.security.istio.io' },
  spec: {
    group: 'security.istio.io',
    names: {
      kind: 'AuthorizationPolicy',
      plural: 'authorizationpolicies',
      singular: 'authorizationpolicy',
      listKind: 'AuthorizationPolicyList',
    },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

/**
 * As much of Calico as the sample needs: a port that a stored GlobalNetworkPolicy denies as
 * egress is refused (how the run's network canary sees its deny in force).
 */
function deniedEgressPorts(server: FakeApiServer): Set<number> {
  const ports = new Set<number>();
  for (const policy of server.list('projectcalico.org/v3', 'GlobalNetworkPolicy')) {
    const spec = (
      policy as { spec?: { egress?: { action?: string; destination?: { ports?: unknown[] } }[] } }
    ).spec;
    for (const rule of spec?.egress ?? [])
      if (rule.action === 'Deny')
        for (const p of rule.destination?.ports ?? []) if (typeof p === 'number') ports.add(p);
  }
  return ports;
}

/** Envoy's own reply when a cluster has no endpoint to send to: 503 "no healthy upstream". */
async function envoyNoHealthyUpstream(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(503, { 'content-type': 'text/plain', server: 'envoy' }).end('no healthy upstream');
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Time stands still except when the run sleeps, and then moves by what it asked, at once. */
class SampleClock implements RunClock {
  #now = SAMPLE_START;
  now(): number {
    return this.#now;
  }
  sleep(ms: number): Promise<void> {
    this.#now += Math.max(0, ms);
    return Promise.resolve();
  }
}

/** What the sample shows for the fake API server's address (kube-apiserver's default port). */
const SHOWN_API_SERVER = 'https://127.0.0.1:6443';

/** The Node.js scripts/ensure-node.sh installs, as `process.version` spells it. */
const SHOWN_NODE = `v${/^BULKHEAD_NODE_VERSION=(\S+)$/m.exec(readFileSync(new URL('ensure-node.sh', import.meta.url), 'utf8'))?.[1] ?? 'unknown'}`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * The one place where a sample differs from the run that made it: the fields of a run's records
 * (one results.jsonl line each) that differ between two runs of the same scenario on the same fake
 * cluster, or between machines, each replaced by a fixed value. Nothing else is touched, and the
 * records are read back through the results contract's own reader afterwards.
 *
 * - `run.cluster`: the fake API server listens on an ephemeral loopback port; shown as
 *   {@link SHOWN_API_SERVER}.
 * - `run.environment.versions.gitCommit` and `.node`: the checkout and the Node.js of the
 *   machine that made the sample. The commit is left out (the sample is committed after it is
 *   made, so it could not name its own commit); Node.js is shown as the version
 *   scripts/ensure-node.sh provisions (results.json would otherwise fill in the running one).
 * - `127.0.0.1:<port>` in an attempt's observations and result (the agent's `target`, a connect
 *   error's message): the fake network sends each attempt to a loopback server on an ephemeral
 *   port; shown with the Service port the attempt dialled.
 * - Timings the agent measured (numbers under `evidence` whose key ends in `Ms`): loopback round
 *   trips of a few milliseconds that differ every run; shown as 0.
 * - Pod names a Deployment's ReplicaSet generates (`api-<hash>-<suffix>`, random like a real
 *   cluster's): the hash and suffix are taken from a SHA-256 of the pod's namespace and
 *   workload instead.
 */
export function normalise(
  record: Record<string, Json>,
  attemptPorts: ReadonlyMap<string, number>,
): Record<string, Json> {
  const out = structuredClone(record);
  if (out.type === 'run') {
    out.cluster = SHOWN_API_SERVER;
    const environment = out.environment;
    if (isObject(environment) && isObject(environment.versions)) {
      delete environment.versions.gitCommit;
      environment.versions.node = SHOWN_NODE;
    }
  }
  const port = typeof out.attempt === 'string' ? attemptPorts.get(out.attempt) : undefined;
  return mapStrings(zeroTimings(out), (text) => {
    let shown = text.replace(GENERATED_POD, (_, namespace: string, workload: string) => {
      const hash = createHash('sha256').update(`${namespace}/${workload}`).digest('hex');
      return `${namespace}/${workload}-${hash.slice(0, 10)}-${hash.slice(10, 15)}`;
    });
    if (port !== undefined) shown = shown.replace(/\b127\.0\.0\.1:\d+\b/g, `127.0.0.1:${port}`);
    return shown;
  }) as Record<string, Json>;
}

/** `<namespace>/<workload>-<pod-template-hash>-<suffix>`, as the fake API server names Deployment pods. */
const GENERATED_POD = /\b([a-z0-9-]+)\/([a-z0-9-]+?)-[0-9a-f]{10}-[0-9a-z]{5}\b/g;

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mapStrings(value: Json, map: (text: string) => string): Json {
  if (typeof value === 'string') return map(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, map));
  if (isObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, map)]));
  return value;
}

function zeroTimings<T extends Json>(value: T, inEvidence = false): T {
  if (Array.isArray(value)) return value.map((v) => zeroTimings(v, inEvidence)) as T;
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      inEvidence && typeof v === 'number' && k.endsWith('Ms')
        ? 0
        : zeroTimings(v, inEvidence || k === 'evidence'),
    ]),
  ) as T;
}

/** Each attempt's `verdict:outcome`, as the story has it: one of every state a report shows. */
export const STORY: Readonly<Record<string, string>> = {
  'globex-to-acme-api': 'pass:denied-l7',
  'acme-to-globex-api': 'pass:refused',
  'acme-reads-own-orders': 'pass:allowed',
  'acme-to-globex-metrics': 'fail:allowed',
  'initech-to-acme-api': 'error:error',
};

/**
 * Makes the samples in `out` (created if missing) and returns the run's exit code; throws when
 * the run did not tell the story (then the samples would not show every state).
 */
export async function makeSamples(out: string): Promise<number> {
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, 'scenario.yaml'), SAMPLE_SCENARIO);
  const scenario = await loadScenario(SAMPLE_SCENARIO, `${SAMPLES_DIR}/scenario.yaml`);
  const work = await mkdtemp(path.join(tmpdir(), 'bulkhead-samples-'));
  const rbac = await scriptedServer(['rbac']);
  const app = await scriptedServer(['app']);
  const noUpstream = await envoyNoHealthyUpstream();
  // istiod's sync status, as the run's mesh barrier reads it (/debug/syncz through exec).
  const late: { istiod?: FakeIstiod } = {};
  const server = await new FakeApiServer({
    exec: agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: await closedPort(),
      override: (request) => late.istiod?.exec(request),
      route: (source, host, port) => {
        if (deniedEgressPorts(server).has(port)) return undefined;
        if (host.startsWith('api.tenant-acme.'))
          return source.namespace === 'tenant-acme'
            ? app.port
            : source.namespace === 'tenant-initech'
              ? noUpstream.port
              : rbac.port;
        if (host.startsWith('api.tenant-globex.') && port === 9090) return app.port;
        // A pod dialled by its address (the run's network canary) answers.
        if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return app.port;
        return undefined;
      },
    }),
  }).start();
  try {
    putReadyCluster(server);
    server.put(ISTIO_AUTHZ_CRD);
    // istiod's own debounce (100 ms) before each push: a push must follow the apply's return for
    // the barrier to count it, as with a real istiod.
    late.istiod = new FakeIstiod(server);
    const kubeconfig = path.join(work, 'kubeconfig');
    await writeFile(kubeconfig, server.kubeConfig().exportConfig());
    const directory = path.join(work, 'reports', RUN_ID);
    // `bulkhead run`'s defaults: every setting but the agent bundle is left to the runner.
    const settings = { agentBundle: await loadAgentBundle() };
    let exitCode: number;
    {
      await using session = await RunSession.open({
        scenario,
        settings,
        runId: RUN_ID,
        directory,
        progress: createProgress({ write: () => undefined, interactive: false }),
        provision: { provider: 'existing', kubeconfig, context: 'fake' },
        keepObjects: 'never',
        environment: {
          provider: 'existing',
          environment: 'staging',
          tester: { name: 'A. Tester', organisation: 'Example Assessors Ltd', independence: 'external' },
          trigger: 'npm run samples',
          clusterName: 'fake-apiserver',
          versions: { images: { agent: agentImage({}) } },
        },
        cwd: work,
        clock: new SampleClock(),
      });
      exitCode = (await session.run()).exitCode;
    }
    // The run's records, normalised, read back through the contract's reader, folded into the reports.
    const ports = new Map(
      scenario.attempts.flatMap((a) => ('port' in a ? [[a.id, a.port.port] as const] : [])),
    );
    const lines = (await readFile(path.join(directory, RESULTS_LOG), 'utf8')).trimEnd().split('\n');
    const sample = path.join(work, 'sample');
    await mkdir(sample);
    await writeFile(
      path.join(sample, RESULTS_LOG),
      lines
        .map((l) => `${JSON.stringify(normalise(JSON.parse(l) as Record<string, Json>, ports))}\n`)
        .join(''),
    );
    const records = await readResultsRecords(path.join(sample, RESULTS_LOG));
    const { document } = await reportRun({ directory: sample, out, scenario, records });
    const told = Object.fromEntries(document.attempts.map((a) => [a.id, `${a.verdict}:${a.outcome}`]));
    if (JSON.stringify(told) !== JSON.stringify(STORY))
      throw new Error(
        `the sample run did not tell its story: got ${JSON.stringify(told)}, want ${JSON.stringify(STORY)}`,
      );
    return exitCode;
  } finally {
    late.istiod?.stop();
    await server.stop();
    await rbac.close();
    await app.close();
    await noUpstream.close();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = path.resolve(fileURLToPath(new URL('..', import.meta.url)), SAMPLES_DIR);
  const code = await makeSamples(out);
  const sizes = await Promise.all(
    SAMPLE_FILES.map(async (f) => `${f} ${(await readFile(path.join(out, f))).length} bytes`),
  );
  console.log(`samples: run exited ${code} (as the story has it); ${sizes.join(', ')} in ${SAMPLES_DIR}/`);
}
