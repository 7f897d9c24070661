/**
 * `npm run bench:run`: the execute phase of one round against the fake cluster, the way the
 * runner does it (one exec per source pod carrying all of its attempts, pods in parallel) and
 * the naive way (one exec per attempt, pods in parallel, attempts of a pod one after another).
 * 3 tenants × 10 probe pods = 30 pods, 20 attempts each; every attempt is answered by a local
 * server after DELAY_MS, so a batched round should cost about one attempt plus exec overhead.
 * Prints each mode's wall times, their medians and the ratio.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

import { runRound, type SourceBatch } from '../harness/run/execute.js';
import { expectation } from '../harness/scenario/outcomes.js';
import type { HttpAttempt, Workload } from '../harness/scenario/types.js';
import { FakeApiServer } from '../test/support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort } from '../test/support/fake-cluster.js';

const TENANTS = 3;
const PODS_PER_TENANT = 10;
const ATTEMPTS_PER_POD = 20;
const DELAY_MS = 500;
const TIMEOUT_MS = 3000;

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);

const app = createServer((req, res) => {
  req.resume();
  setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), DELAY_MS);
});
await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
const appPort = (app.address() as AddressInfo).port;

const server = await new FakeApiServer({
  exec: agentExec({
    bundlePath: await agentBundle(),
    unroutedPort: await closedPort(),
    route: () => appPort,
  }),
}).start();

const workloads: Workload[] = [];
const batches: SourceBatch[] = [];
for (let t = 0; t < TENANTS; t++) {
  const namespace = `tenant-${t}`;
  server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  for (let p = 0; p < PODS_PER_TENANT; p++) {
    const name = `probe-${p}`;
    server.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace },
      spec: { containers: [{ name: 'agent' }] },
    });
    server.setPodReady(namespace, name, true);
    const origin = { file: 'bench', line: 0, column: 0, path: '' };
    workloads.push({
      name,
      namespace,
      labels: {},
      serviceAccount: 'default',
      sidecar: false,
      ports: [],
      automountToken: true,
      probe: true,
      origin,
    });
    const attempts: HttpAttempt[] = Array.from({ length: ATTEMPTS_PER_POD }, (_, i) => ({
      id: `${namespace}/${name}/${i}`,
      kind: 'http',
      category: 'cross-tenant',
      from: { namespace, name },
      to: { namespace: `tenant-${(t + 1) % TENANTS}`, name: `svc-${i}` },
      port: { port: 8080, protocol: 'TCP' },
      http: { method: 'GET', path: '/', headers: {} },
      expect: expectation(['allowed']),
      timeoutMs: TIMEOUT_MS,
      origin,
    }));
    batches.push({ source: `${namespace}/${name}`, namespace, pod: name, attempts });
  }
}

const kubeConfig = server.kubeConfig();
const scenario = { clusterDomain: 'cluster.local', workloads };

async function timed(run: () => Promise<number>): Promise<{ ms: number; observed: number }> {
  const start = performance.now();
  const observed = await run();
  return { ms: performance.now() - start, observed };
}

/** The runner's way: one exec per pod. */
function batched(): Promise<number> {
  let n = 0;
  return runRound({ kubeConfig, scenario, batches, observe: () => (n += 1) }).then(() => n);
}

/** The naive way: one exec per attempt. */
async function perAttempt(): Promise<number> {
  let n = 0;
  await Promise.all(
    batches.map(async (b) => {
      for (const attempt of b.attempts) {
        await runRound({
          kubeConfig,
          scenario,
          batches: [{ ...b, attempts: [attempt] }],
          observe: () => (n += 1),
        });
      }
    }),
  );
  return n;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

const total = TENANTS * PODS_PER_TENANT * ATTEMPTS_PER_POD;
console.log(
  `bench:run: ${TENANTS * PODS_PER_TENANT} probe pods × ${ATTEMPTS_PER_POD} attempts = ${total} attempts, each answered after ${DELAY_MS} ms`,
);
const results: Record<string, number[]> = { batched: [], 'per-attempt': [] };
for (let i = 0; i < runs; i++) {
  for (const [name, fn] of [
    ['batched', batched],
    ['per-attempt', perAttempt],
  ] as const) {
    const { ms, observed } = await timed(fn);
    if (observed !== total) throw new Error(`${name}: ${observed} observations, expected ${total}`);
    results[name]?.push(ms);
    console.log(`  run ${i + 1} ${name.padEnd(11)} ${(ms / 1000).toFixed(2)} s`);
  }
}
const b = median(results.batched ?? []);
const p = median(results['per-attempt'] ?? []);
console.log(
  `median batched ${(b / 1000).toFixed(2)} s, per-attempt ${(p / 1000).toFixed(2)} s, ratio ${(p / b).toFixed(1)}×`,
);
console.log(
  `one attempt takes ${DELAY_MS} ms: batched overhead over it ${((b - DELAY_MS) / 1000).toFixed(2)} s`,
);

await server.stop();
app.close();
