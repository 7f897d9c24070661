/**
 * HTTP attempts through an ingress gateway, through the real agent process, against loopback
 * servers that answer as an Istio gateway does (harness/agent/classify.ts classifyGatewayAnswer):
 * its own 500 and 404 with an empty body and no upstream timing, and replies it passes on.
 */
import { expect } from 'chai';
import type http from 'node:http';

import { resultFor, runProbe, type ProbeRun } from './support/agent-process.js';
import { ENVOY_RBAC_DENY, envoyUpstreamFailure, replyServer, type Running } from './support/servers.js';

describe('agent probe: http through an ingress gateway', function () {
  const servers: Running[] = [];
  const seen: http.IncomingHttpHeaders[] = [];
  const ports: Record<string, number> = {};
  let run: ProbeRun;

  before(async function () {
    this.timeout(20_000);
    const add = async (name: string, server: Promise<Running>): Promise<void> => {
      const running = await server;
      servers.push(running);
      ports[name] = running.port;
    };
    const gateway = { server: 'istio-envoy' };
    await add(
      'noCluster',
      replyServer({ status: 500, headers: gateway, body: '' }, (req) => seen.push(req.headers)),
    );
    await add('noRoute', replyServer({ status: 404, headers: gateway, body: '' }));
    await add(
      'app500',
      replyServer({
        status: 500,
        headers: { ...gateway, 'x-envoy-upstream-service-time': '2' },
        body: '',
      }),
    );
    await add('otherProxy500', replyServer({ status: 500, headers: { server: 'nginx' }, body: '' }));
    await add(
      'rbacPassedOn',
      replyServer({
        ...ENVOY_RBAC_DENY,
        headers: { ...ENVOY_RBAC_DENY.headers, server: 'istio-envoy', 'x-envoy-upstream-service-time': '1' },
      }),
    );
    await add(
      'upstream',
      replyServer({
        ...envoyUpstreamFailure('connection timeout'),
        headers: { server: 'istio-envoy', 'content-type': 'text/plain' },
      }),
    );
    const attempt = (id: string, port: number | undefined, gatewayFlag = true): object => ({
      id,
      kind: 'http',
      host: '127.0.0.1',
      port,
      timeoutMs: 1500,
      http: { method: 'GET', path: '/bulkhead-cross/tenant-b/api/', headers: { host: 'a.example.com' } },
      ...(gatewayFlag ? { gateway: true } : {}),
    });
    run = await runProbe([
      attempt('no-cluster', ports.noCluster),
      attempt('no-cluster-not-gateway', ports.noCluster, false),
      attempt('no-route', ports.noRoute),
      attempt('app-500', ports.app500),
      attempt('other-proxy-500', ports.otherProxy500),
      attempt('rbac-passed-on', ports.rbacPassedOn),
      attempt('upstream', ports.upstream),
      { id: 'bad-flag', kind: 'http', host: '127.0.0.1', port: 1, timeoutMs: 100, gateway: 'yes' },
    ]);
  });

  after(async function () {
    await Promise.all(servers.map((s) => s.close()));
  });

  it("sends the tenant's hostname as the Host header", function () {
    expect(seen[0]?.host).to.equal('a.example.com');
  });

  it("reads the gateway's own 500 (backend dropped, e.g. no ReferenceGrant) as denied-l7", function () {
    const r = resultFor(run, 'no-cluster');
    expect(r.outcome).to.equal('denied-l7');
    expect(r.reason).to.match(/ReferenceGrant/);
  });

  it('the same 500 from an attempt not through a gateway is not a deny', function () {
    expect(resultFor(run, 'no-cluster-not-gateway').outcome).to.equal('error');
  });

  it("reads the gateway's own 404 (no route names the Host) as denied-l7", function () {
    expect(resultFor(run, 'no-route').outcome).to.equal('denied-l7');
  });

  it("a 500 with upstream timing is the backend's own answer: it got through", function () {
    expect(resultFor(run, 'app-500').outcome).to.equal('allowed');
  });

  it('a 500 from something that is not the gateway is not read as its refusal', function () {
    expect(resultFor(run, 'other-proxy-500').outcome).to.equal('allowed');
  });

  it("the backend sidecar's RBAC 403 passed on by the gateway is denied-l7, its 503 upstream failure denied-l4", function () {
    expect(resultFor(run, 'rbac-passed-on').outcome).to.equal('denied-l7');
    expect(resultFor(run, 'upstream').outcome).to.equal('denied-l4');
  });

  it('refuses a gateway flag that is not true', function () {
    expect(resultFor(run, 'bad-flag').outcome).to.equal('error');
  });
});
