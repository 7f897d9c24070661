/** api attempts through the real agent process against an HTTPS stub of the API server (O12, §A6). */
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { resultFor, runProbe, type ProbeRun } from './support/agent-process.js';
import { GOOD_TOKEN, startApiServer, type RunningApi } from './support/api-server.js';
import { closedPort, CERT } from './support/servers.js';

describe('agent probe: api', function () {
  let api: RunningApi;
  let dir: string;
  let run: ProbeRun;

  before(async function () {
    this.timeout(20_000);
    api = await startApiServer();
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-agent-api-'));
    const tokenFile = path.join(dir, 'token');
    const caFile = path.join(dir, 'ca.crt');
    await writeFile(tokenFile, `${GOOD_TOKEN}\n`);
    const expiredToken = path.join(dir, 'expired');
    await writeFile(expiredToken, 'eyJhbGciOiJSUzI1NiJ9.expired-token.c2ln');
    await writeFile(caFile, CERT);
    const missing = path.join(dir, 'absent');
    const attempt = (id: string, request: object, extra: object = {}): object => ({
      id,
      kind: 'api',
      request,
      apiServer: api.url,
      tokenFile,
      caFile,
      timeoutMs: 2000,
      ...extra,
    });
    run = await runProbe([
      attempt('list-own-pods', { verb: 'list', resource: 'pods', namespace: 'acme' }),
      attempt('get-missing-pod', { verb: 'get', resource: 'pods', namespace: 'acme', name: 'gone' }),
      attempt('watch-own-pods', { verb: 'watch', resource: 'pods', namespace: 'acme' }, { timeoutMs: 5000 }),
      attempt('watch-secrets-globex', { verb: 'watch', resource: 'secrets', namespace: 'globex' }),
      attempt('list-secrets-globex', { verb: 'list', resource: 'secrets', namespace: 'globex' }),
      attempt('create-pod-globex', { verb: 'create', resource: 'pods', namespace: 'globex' }),
      attempt('delete-ns', { verb: 'delete', resource: 'namespaces', name: 'globex' }),
      attempt('reflect', { verb: 'list', resource: 'configmaps', namespace: 'reflect' }),
      attempt('no-token', { verb: 'list', resource: 'namespaces' }, { tokenFile: missing, caFile: missing }),
      attempt(
        'expired-token',
        { verb: 'list', resource: 'pods', namespace: 'acme' },
        { tokenFile: expiredToken },
      ),
      attempt('no-ca-with-token', { verb: 'list', resource: 'namespaces' }, { caFile: missing }),
      attempt(
        'refused',
        { verb: 'list', resource: 'pods' },
        { apiServer: `https://127.0.0.1:${await closedPort()}` },
      ),
    ]);
  });

  after(async function () {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a 2xx is api-allowed; a 404 Status after authorization is api-allowed too', function () {
    expect(resultFor(run, 'list-own-pods').outcome).to.equal('api-allowed');
    expect(resultFor(run, 'list-own-pods').evidence.status).to.equal(200);
    const missing = resultFor(run, 'get-missing-pod');
    expect(missing.outcome).to.equal('api-allowed');
    expect(missing.evidence.api?.statusReason).to.equal('NotFound');
  });

  it('O12: a 403 Status is api-forbidden, with the message as evidence and the token reported as mounted', function () {
    const r = resultFor(run, 'list-secrets-globex');
    expect(r.outcome).to.equal('api-forbidden');
    expect(r.evidence.status).to.equal(403);
    const status = JSON.parse(r.evidence.body ?? '') as { message: string };
    expect(status.message).to.equal(
      'secrets is forbidden: User "system:serviceaccount:acme:probe" cannot list resource "secrets" in API group "" in the namespace "globex"',
    );
    expect(r.evidence.api).to.include({ token: 'mounted', method: 'GET', statusReason: 'Forbidden' });
    expect(r.evidence.target).to.equal(`${api.url}/api/v1/namespaces/globex/secrets`);
  });

  it('a watch is judged on its first answer: allowed at the headers, forbidden with the Status', function () {
    const allowed = resultFor(run, 'watch-own-pods');
    expect(allowed.outcome).to.equal('api-allowed');
    expect(allowed.evidence.elapsedMs, 'not held open until the deadline').to.be.below(2500);
    expect(allowed.evidence.target).to.match(/\/api\/v1\/namespaces\/acme\/pods\?watch=true$/);
    const forbidden = resultFor(run, 'watch-secrets-globex');
    expect(forbidden.outcome).to.equal('api-forbidden');
    expect(forbidden.evidence.api?.statusReason).to.equal('Forbidden');
  });

  it('sends mutating verbs as dry runs, so a probe never changes the cluster', function () {
    expect(resultFor(run, 'create-pod-globex').outcome).to.equal('api-forbidden');
    expect(resultFor(run, 'delete-ns').outcome).to.equal('api-forbidden');
    const mutating = api.seen.filter((s) => s.method !== 'GET');
    expect(mutating.map((s) => `${s.method} ${s.url}`)).to.have.members([
      'POST /api/v1/namespaces/globex/pods?dryRun=All',
      'DELETE /api/v1/namespaces/globex?dryRun=All',
    ]);
  });

  it('never lets the token out, even when the server reflects it', function () {
    expect(api.seen.some((s) => s.authorization === `Bearer ${GOOD_TOKEN}`)).to.be.true;
    expect(run.stdout).not.to.contain(GOOD_TOKEN);
    expect(run.stderr).not.to.contain(GOOD_TOKEN);
    expect(resultFor(run, 'reflect').evidence.body).to.contain('Bearer [redacted]');
  });

  it('no token mounted: says so and classifies the anonymous answer', function () {
    const r = resultFor(run, 'no-token');
    expect(r.outcome).to.equal('api-forbidden');
    expect(r.evidence.api?.token).to.equal('no-token');
    expect(r.evidence.body).to.contain('system:anonymous');
    const sent = api.seen.filter((s) => s.url === '/api/v1/namespaces');
    expect(sent.some((s) => s.authorization === undefined)).to.be.true;
  });

  it('a token the API server rejects (401) is api-forbidden, and is not reported either', function () {
    const r = resultFor(run, 'expired-token');
    expect(r.outcome).to.equal('api-forbidden');
    expect(r.evidence.status).to.equal(401);
    expect(run.stdout).not.to.contain('expired-token.c2ln');
  });

  it('a token with no CA to verify the server is never sent to an unverified server', function () {
    const r = resultFor(run, 'no-ca-with-token');
    expect(r.outcome).to.equal('error');
    expect(r.evidence.api?.tls).to.equal('verified with the system roots');
    expect(r.evidence.errorCode).to.match(/CERT|SIGNED/);
  });

  it('an API server that refuses the connection is refused', function () {
    expect(resultFor(run, 'refused').outcome).to.equal('refused');
  });
});
