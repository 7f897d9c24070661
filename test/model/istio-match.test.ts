import { expect } from 'chai';

import {
  isConditionKey,
  namespaceMatcher,
  namespaceValueMatches,
  patternCovers,
  principalNamespace,
  stringMatch,
} from '../../harness/model/istio-match.js';

describe('model: Istio value matching', () => {
  it('matches strings exact, prefix*, *suffix and * (present), a leading * first', () => {
    expect(stringMatch('GET', 'GET')).to.be.true;
    expect(stringMatch('/api/*', '/api/v1')).to.be.true;
    expect(stringMatch('*.svc', 'a.svc')).to.be.true;
    expect(stringMatch('*', '')).to.be.false;
    expect(stringMatch('*', 'x')).to.be.true;
    // StringMatcherWithPrefix checks HasPrefix("*") before HasSuffix("*"): the suffix 'a*'.
    expect(stringMatch('*a*', 'xa*')).to.be.true;
    expect(stringMatch('*a*', 'abc')).to.be.false;
  });

  it('matches namespaces as the regex .*/ns/<value>/.* with every * as .*', () => {
    expect(namespaceValueMatches('tenant-a', 'tenant-a')).to.be.true;
    expect(namespaceValueMatches('tenant-*', 'tenant-a')).to.be.true;
    expect(namespaceValueMatches('*-a', 'tenant-a')).to.be.true;
    expect(namespaceValueMatches('*en*', 'tenant-a')).to.be.true;
    expect(namespaceValueMatches('tenant', 'tenant-a')).to.be.false;
    const m = namespaceMatcher(['tenant-*']);
    expect(m('cluster.local/ns/tenant-a/sa/web')).to.be.true;
    expect(m('cluster.local/ns/shared/sa/web')).to.be.false;
    expect(m(undefined)).to.be.false;
  });

  it('says when one pattern covers every value of another', () => {
    expect(patternCovers('*', 'cluster.local/ns/a/sa/x')).to.be.true;
    expect(patternCovers('cluster.local/ns/a/*', 'cluster.local/ns/a/sa/*')).to.be.true;
    expect(patternCovers('cluster.local/ns/a/sa/*', 'cluster.local/ns/a/*')).to.be.false;
    expect(patternCovers('cluster.local/ns/a/sa/x', 'cluster.local/ns/a/sa/x')).to.be.true;
    expect(patternCovers('*/sa/x', 'cluster.local/ns/a/sa/x')).to.be.true;
    expect(patternCovers('*/sa/x', 'cluster.local/ns/a/sa/y')).to.be.false;
  });

  it('reads the namespace a principal names', () => {
    expect(principalNamespace('cluster.local/ns/tenant-a/sa/web')).to.equal('tenant-a');
    expect(principalNamespace('cluster.local/ns/tenant-a/sa/*')).to.equal('tenant-a');
    expect(principalNamespace('cluster.local/ns/*/sa/web')).to.equal(undefined);
    expect(principalNamespace('cluster.local/ns/a/*')).to.equal(undefined);
  });

  it('accepts the condition keys Istio validation accepts (security.go ValidateAttribute)', () => {
    for (const key of [
      'request.headers[x-tenant]',
      'request.auth.claims[iss]',
      'request.auth.principal',
      'source.ip',
      'remote.ip',
      'source.namespace',
      'source.principal',
      'source.serviceAccount',
      'destination.ip',
      'destination.port',
      'connection.sni',
      'experimental.envoy.filters.network.mysql_proxy[db.table]',
    ]) {
      expect(isConditionKey(key), key).to.be.true;
    }
    for (const key of [
      'source.trustDomain',
      'request.auth.issuer',
      'request.headers[]',
      'request.headers',
      'destination.namespace',
      'destination.labels[app]',
      'destination.name',
    ]) {
      expect(isConditionKey(key), key).to.be.false;
    }
  });
});
