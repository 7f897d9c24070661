/**
 * Attempts that dial no Service name, run on the fake cluster: the node a pod runs on (the fake
 * reports hostIP 127.0.0.2), on its own ports and on the node port the fake allocated to another
 * tenant's NodePort Service, another pod by its IP (10.244.0.x, as the fake assigns), and the
 * metadata address. The test's network maps each address to a local server; the agent only ever
 * dials loopback. The same run's HTML report shows them in their own matrix, and its "encrypted in
 * transit" column shows which allowed meshed attempt the echo proves was mutual TLS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { ECHO_MARK } from '../../harness/agent/echo.js';
import { escapeMatrix, renderHtmlReport } from '../../harness/report/html.js';
import { buildResults } from '../../harness/results/build-results.js';
import { readResultsRecords } from '../../harness/results/records.js';
import { EnvironmentError } from '../../harness/errors.js';
import { checkAddresses, readNodePorts, readRunAddresses } from '../../harness/run/addresses.js';
import { createProgress } from '../../harness/run/progress.js';
import { runScenario } from '../../harness/run/runner.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD, load } from '../support/scenarios.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads:
        - { name: client }
    - name: globex
      probes: false
      workloads:
        - { name: api, ports: [8080], nodePort: true }
  generators:
    - { kind: node, from: [tenant-acme/client], ports: [10250], expect: allowed }
    - { kind: metadata, from: [tenant-acme/client] }
    - { kind: pod-ip, from: [tenant-acme/client], expect: allowed }
  attempts:
    - { id: proven, kind: http, from: tenant-acme/client, to: tenant-globex/api, http: { path: /mtls }, expect: allowed }
    - { id: unproven, kind: http, from: tenant-acme/client, to: tenant-globex/api, http: { path: /plain }, expect: allowed }
`;

/** The caller's identity as an Istio sidecar's inbound listener appends it (after a forged one). */
const XFCC =
  'By=spiffe://cluster.local/ns/tenant-globex/sa/default;URI=spiffe://cluster.local/ns/tenant-globex/sa/forged,' +
  'By=spiffe://cluster.local/ns/tenant-globex/sa/default;Hash=ab12;Subject="";URI=spiffe://cluster.local/ns/tenant-acme/sa/default';

/** Answers as the echo app does; on /mtls with the XFCC header a sidecar would have added. */
async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    const headers = { ...req.headers, ...(req.url === '/mtls' ? { 'x-forwarded-client-cert': XFCC } : {}) };
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        agent: ECHO_MARK,
        pod: 'api-0',
        namespace: 'tenant-globex',
        serviceAccount: 'default',
        port: 8080,
        method: req.method,
        path: req.url,
        headers,
        remoteAddress: '127.0.0.6',
        bodyBytes: 0,
      }),
    );
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

describe('escape attempts on the fake cluster', function () {
  this.timeout(60_000);

  it('reads node ports from the stored NodePort Services, and refuses to start rounds without one', async () => {
    const scenario = await load(SCENARIO);
    const service = (ports: Record<string, unknown>[]) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'api-nodeport', namespace: 'tenant-globex' },
      spec: { type: 'NodePort', ports },
    });
    const pods = new Map([
      ['tenant-acme/client', 'client'],
      ['tenant-globex/api', 'api-0'],
    ]);
    const ready = [...pods].map(([w, name]) => ({
      metadata: { namespace: w.split('/')[0], name },
      status: { podIP: '10.244.0.9', hostIP: '127.0.0.2' },
    }));
    const read = readNodePorts(scenario.workloads, [service([{ port: 8080, nodePort: 31234 }])]);
    expect([...read]).to.deep.equal([['tenant-globex/api:8080', 31234]]);
    expect(() => {
      checkAddresses(scenario.attempts, readRunAddresses(pods, ready, undefined, read));
    }).to.not.throw();
    const none = readNodePorts(scenario.workloads, [service([{ port: 8080 }])]);
    expect(() => {
      checkAddresses(scenario.attempts, readRunAddresses(pods, ready, undefined, none));
    })
      .to.throw(EnvironmentError)
      .with.property('message')
      .that.matches(
        /1 attempts dial an address or node port the run could not read.*node-port\(tenant-globex\/api\):8080/,
      );
  });

  it('dials the node by the hostIP and the pod by the podIP the cluster reports', async () => {
    const bundlePath = await agentBundle();
    const kubelet = await scriptedServer(['app']);
    const pod = await scriptedServer(['app']);
    const nodePort = await scriptedServer(['app']);
    const echo = await echoServer();
    // The node port the fake API server allocated to tenant-globex/api-nodeport, once it has.
    const holder: { server?: FakeApiServer } = {};
    const allocated = () =>
      (
        holder.server?.get('v1', 'Service', 'tenant-globex', 'api-nodeport')?.spec as
          { ports?: { nodePort?: number }[] } | undefined
      )?.ports?.[0]?.nodePort;
    const unrouted = await closedPort();
    const dialled: string[] = [];
    const server = await new FakeApiServer({
      exec: agentExec({
        bundlePath,
        unroutedPort: unrouted,
        onBatch: (_r, items) => {
          for (const i of items) if (typeof i.host === 'string') dialled.push(`${i.host}:${String(i.port)}`);
        },
        route: (_source, host, port) =>
          host === '127.0.0.2' && port === 10250
            ? kubelet.port
            : host === '127.0.0.2' && port === allocated()
              ? nodePort.port
              : /^10\.244\.0\.\d+$/.test(host) && port === 8080
                ? pod.port
                : host === 'api.tenant-globex.svc.cluster.local'
                  ? echo.port
                  : undefined,
      }),
    }).start();
    holder.server = server;
    const reports = await mkdtemp(path.join(tmpdir(), 'bulkhead-escape-'));
    try {
      const scenario = await load(SCENARIO);
      const result = await runScenario({
        scenario,
        kubeConfig: server.kubeConfig(),
        agentBundle: '// bundle',
        directory: path.join(reports, 'run-1'),
        runId: 'run-1',
        progress: createProgress({ write: () => undefined, interactive: false }),
        settleMs: 0,
        roundIntervalMs: 0,
        convergeTimeoutMs: 20_000,
      });
      const verdicts = Object.fromEntries(
        result.results.map((r) => [r.attempt.id, `${r.judgement.verdict}:${r.judgement.outcome}`]),
      );
      expect(verdicts).to.deep.equal({
        'node:tenant-acme/client->node:10250': 'pass:allowed',
        'node:tenant-acme/client->node-port:tenant-globex/api:8080': 'pass:allowed',
        // Mapped to a closed loopback port: refused, which the default `denied` admits.
        'metadata:tenant-acme/client->169.254.169.254:80': 'pass:refused',
        'pod-ip:tenant-acme/client->tenant-globex/api:8080': 'pass:allowed',
        proven: 'pass:allowed',
        unproven: 'pass:allowed',
      });
      expect(kubelet.hits()).to.be.greaterThan(0);
      expect(pod.hits()).to.be.greaterThan(0);
      expect(nodePort.hits()).to.be.greaterThan(0);
      // Dialled on the port the fake allocated (the run deletes the Service when it ends).
      const ports = dialled.filter((d) => d.startsWith('127.0.0.2:') && d !== '127.0.0.2:10250');
      expect(ports).to.have.length.greaterThan(0);
      for (const d of ports) expect(Number(d.split(':')[1])).to.be.within(30000, 32767);
      expect(new Set(dialled)).to.include.members(['127.0.0.2:10250', '169.254.169.254:80']);
      expect([...dialled].some((d) => /^10\.244\.0\.\d+:8080$/.test(d))).to.equal(true);

      const doc = buildResults({
        records: (await readResultsRecords(path.join(reports, 'run-1', 'results.jsonl'))).records,
        scenario,
        version: '0.1.0',
      });
      const transit = Object.fromEntries(doc.attempts.map((a) => [a.id, a.transit?.status ?? 'none']));
      expect(transit).to.deep.equal({
        'node:tenant-acme/client->node:10250': 'none',
        'node:tenant-acme/client->node-port:tenant-globex/api:8080': 'none',
        'metadata:tenant-acme/client->169.254.169.254:80': 'none',
        'pod-ip:tenant-acme/client->tenant-globex/api:8080': 'not-meshed',
        proven: 'mtls',
        unproven: 'no-proof',
      });
      expect(doc.attempts.find((a) => a.id === 'proven')?.transit?.identity).to.equal(
        'spiffe://cluster.local/ns/tenant-acme/sa/default',
      );
      const [grid] = escapeMatrix(doc);
      expect(grid?.rows.map((r) => r.label)).to.deep.equal(['acme']);
      expect(grid?.columns.map((c) => c.label)).to.deep.equal(['node', 'metadata', 'pod-ip']);
      expect(grid?.cells.map((row) => row.map((c) => c.items.map((i) => i.text).join(' · ')))).to.deep.equal([
        ['2 allowed', '1 refused L4', '1 allowed'],
      ]);
      const html = renderHtmlReport({ document: doc });
      expect(html).to.contain('<th>Encrypted in transit</th>');
      expect(html).to.contain('data-grid="escape"');
      expect(html).to.match(/1 of 2 allowed attempts between meshed workloads show mutual TLS/);
      expect(html).to.match(/<b class="flag">1 show no such proof<\/b>: unproven\./);
    } finally {
      await echo.close();
      await server.stop();
      await kubelet.close();
      await pod.close();
      await nodePort.close();
      await rm(reports, { recursive: true, force: true });
    }
  });
});
