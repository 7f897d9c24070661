import { expect } from 'chai';

import {
  compileCalicoSelector,
  matchesWithout,
  parseCalicoSelector,
  selectorTerms,
} from '../../harness/model/calico-selector.js';
import { NotUnderstood } from '../../harness/model/read.js';
import { MAYBE, NO, YES } from '../../harness/model/types.js';

const POD = { app: 'web', tenant: 'acme', 'projectcalico.org/namespace': 'tenant-acme', version: 'v1.2' };

function m(selector: string, labels: Record<string, string> = POD): boolean {
  return compileCalicoSelector(selector).match(labels);
}

describe('model: Calico selector language', () => {
  it('compares labels with == and !=, where != also matches a missing label', () => {
    expect(m("app == 'web'")).to.be.true;
    expect(m('app == "db"')).to.be.false;
    expect(m("app != 'db'")).to.be.true;
    expect(m("missing != 'x'")).to.be.true;
    expect(m("missing == 'x'")).to.be.false;
  });

  it('tests set membership with in and not in, where not in matches a missing label', () => {
    expect(m("tenant in {'acme', 'globex'}")).to.be.true;
    expect(m("tenant in {'globex'}")).to.be.false;
    expect(m("tenant not in {'globex'}")).to.be.true;
    expect(m("missing not in {'x'}")).to.be.true;
    expect(m("missing in {'x'}")).to.be.false;
    expect(m('tenant in {}')).to.be.false;
  });

  it('combines has(), !, &&, || and parentheses with && binding tighter', () => {
    expect(m('has(tenant)')).to.be.true;
    expect(m('!has(tenant)')).to.be.false;
    expect(m("has(missing) || app == 'web' && tenant == 'acme'")).to.be.true;
    expect(m("(has(missing) || app == 'web') && tenant == 'globex'")).to.be.false;
    expect(m("!(app == 'db')")).to.be.true;
    expect(m("projectcalico.org/namespace == 'tenant-acme'")).to.be.true;
  });

  it('selects everything with all() and the empty selector, nothing namespaced with global()', () => {
    expect(m('all()', {})).to.be.true;
    expect(m('', {})).to.be.true;
    expect(compileCalicoSelector('  ').all).to.be.true;
    expect(m('global()')).to.be.false;
    expect(compileCalicoSelector('global()').global).to.be.true;
  });

  it('supports contains, starts with and ends with', () => {
    expect(m("version contains '1.'")).to.be.true;
    expect(m("version starts with 'v1'")).to.be.true;
    expect(m("version ends with '.3'")).to.be.false;
    expect(m("missing starts with ''")).to.be.false;
  });

  it('rejects an unquoted ${tenant} placeholder (Calico does no templating)', () => {
    expect(() => compileCalicoSelector('tenant == ${tenant}')).to.throw(NotUnderstood, /unexpected '\$'/);
    // Quoted, it is a literal no label value can equal.
    expect(m("tenant == '${tenant}'")).to.be.false;
  });

  it('rejects malformed selectors with a position', () => {
    for (const bad of [
      "app == 'web",
      'app ==',
      "app = 'web'",
      "(app == 'web'",
      "app == 'web')",
      "tenant in {'a' 'b'}",
    ]) {
      expect(() => compileCalicoSelector(bad), bad).to.throw(NotUnderstood);
    }
  });
});

describe('model: Calico selector syntax tree', () => {
  it('gives the terms as written, with the values and whether a ! stands above them', () => {
    const ast = parseCalicoSelector("has(tenant) && tenant not in {'a', 'b'} || !(app == 'web')");
    expect(selectorTerms(ast).map((t) => [t.key, t.test, t.values, t.negated])).to.deep.equal([
      ['tenant', 'has', [], false],
      ['tenant', 'not in', ['a', 'b'], false],
      ['app', '==', ['web'], true],
    ]);
    expect(
      compileCalicoSelector("has(tenant) && tenant not in {'a', 'b'} || !(app == 'web')").ast,
    ).to.deep.equal(ast);
    expect(parseCalicoSelector('')).to.deep.equal({ kind: 'all' });
  });

  it('tells whether a selector matches an endpoint without some labels, whatever the others', () => {
    const without = (text: string, ...keys: string[]) =>
      matchesWithout(parseCalicoSelector(text), new Set(keys));
    expect(without("tenant == 'a'", 'tenant')).to.equal(NO);
    expect(without("tenant != 'a'", 'tenant')).to.equal(YES);
    expect(without("tenant not in {'a'}", 'tenant')).to.equal(YES);
    expect(without("has(tenant) && tenant != 'a'", 'tenant')).to.equal(NO);
    expect(without("has(tenant) || tenant != 'a'", 'tenant')).to.equal(YES);
    expect(without("tenant != 'a' && app == 'web'", 'tenant')).to.equal(MAYBE);
    expect(without('!has(tenant)', 'tenant')).to.equal(YES);
    expect(without('all()', 'tenant')).to.equal(YES);
    expect(without('global()', 'tenant')).to.equal(NO);
  });

  it('parses what it compiles and rejects what it rejects', () => {
    expect(() => parseCalicoSelector('tenant == ${tenant}')).to.throw(NotUnderstood);
  });
});
