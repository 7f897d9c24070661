/**
 * Rules of the classification that local servers do not reach on their own. The process tests
 * cover the common cases end to end; these pin the corners as plain data in, outcome out.
 */
import { expect } from 'chai';

import {
  classifyApiAnswer,
  classifyDnsFailure,
  classifyFailure,
  classifyHttpAnswer,
} from '../../harness/agent/classify.js';

const envoy = { server: 'envoy' };
const upstream = (reason: string): string =>
  `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`;

describe('agent: classification corners', function () {
  it('an upstream connect failure with a reason other than refused (no route, 113) is denied-l4', function () {
    const body = upstream('remote connection failure, transport failure reason: delayed connect error: 113');
    expect(classifyHttpAnswer({ status: 503, headers: envoy, body }).outcome).to.equal('denied-l4');
  });

  it('reads the upstream body on a 502 too, and never on a 200', function () {
    expect(
      classifyHttpAnswer({ status: 502, headers: envoy, body: upstream('connection timeout') }).outcome,
    ).to.equal('denied-l4');
    const fromApp = classifyHttpAnswer({
      status: 200,
      headers: { ...envoy, 'x-envoy-upstream-service-time': '1' },
      body: upstream('connection timeout'),
    });
    expect(fromApp.outcome).to.equal('allowed');
  });

  it("Envoy's own 404 (no route) is an error, not allowed", function () {
    expect(
      classifyHttpAnswer({ status: 404, headers: { server: 'istio-envoy' }, body: '' }).outcome,
    ).to.equal('error');
  });

  it('a 403 RBAC body with status 200 is not a deny', function () {
    expect(classifyHttpAnswer({ status: 200, headers: envoy, body: 'RBAC: access denied' }).outcome).to.equal(
      'error',
    );
  });

  it('API answers: 422/409/405 after authorization are allowed; 5xx and bare 403s are errors', function () {
    for (const status of [400, 404, 405, 409, 422])
      expect(classifyApiAnswer(status, 'Status', true).outcome, String(status)).to.equal('api-allowed');
    expect(classifyApiAnswer(500, 'Status', true).outcome).to.equal('error');
    expect(classifyApiAnswer(403, undefined, true).outcome).to.equal('error');
    expect(classifyApiAnswer(401, 'Status', false).reason).to.match(/no token is mounted/);
  });

  it('a connect that the kernel times out (ETIMEDOUT) is denied-l4; an unreachable host is an error', function () {
    expect(
      classifyFailure({ phase: 'connect', code: 'ETIMEDOUT', deadline: false, timeoutMs: 1 }).outcome,
    ).to.equal('denied-l4');
    expect(
      classifyFailure({ phase: 'connect', code: 'EHOSTUNREACH', deadline: false, timeoutMs: 1 }).outcome,
    ).to.equal('error');
  });

  it('DNS: SERVFAIL is an error, a cancelled query at the deadline is denied-l4', function () {
    expect(classifyDnsFailure('ESERVFAIL', false, 1).outcome).to.equal('error');
    expect(classifyDnsFailure('ECANCELLED', true, 1).outcome).to.equal('denied-l4');
  });
});
