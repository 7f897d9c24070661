/** The generic JUnit and SARIF writers (lint uses them now; plan, run and diff later). */
import { expect } from 'chai';

import { renderJUnit, xmlEscape } from '../../harness/report/junit.js';
import { artifactUri, renderSarif } from '../../harness/report/sarif.js';
import { wellFormedXml } from './xml-check.js';

describe('report: JUnit writer', () => {
  const xml = renderJUnit({
    name: 'bulkhead run',
    suites: [
      {
        name: 'cross-tenant',
        timestamp: '2026-11-24T12:00:00Z',
        properties: [['scenario', 'hard-isolation']],
        testcases: [
          { name: 'a -> b', classname: 'cross-tenant', time: 0.25, properties: [['outcome', 'denied-l4']] },
          {
            name: 'c -> d',
            classname: 'cross-tenant',
            time: 1.5,
            failure: {
              message: 'expected denied, observed allowed',
              type: 'leak',
              text: 'HTTP 200 <echo> & "quotes"',
            },
            systemOut: 'round 1: allowed',
          },
          { name: 'e -> f', classname: 'cross-tenant', error: { message: 'exec failed' } },
          { name: 'g -> h', classname: 'cross-tenant', skipped: { message: 'no sidecar' } },
        ],
        systemOut: 'suite log',
      },
      { name: 'empty', testcases: [] },
    ],
  });

  it('counts tests, failures, errors, skipped and time per suite and in total', () => {
    expect(xml).to.contain(
      '<testsuites name="bulkhead run" tests="4" failures="1" errors="1" skipped="1" time="1.750">',
    );
    expect(xml).to.contain(
      '<testsuite name="cross-tenant" id="0" tests="4" failures="1" errors="1" skipped="1" time="1.750" timestamp="2026-11-24T12:00:00Z">',
    );
    expect(xml).to.contain(
      '<testsuite name="empty" id="1" tests="0" failures="0" errors="0" skipped="0" time="0.000">',
    );
  });

  it("takes the root's time from the caller when given, the suites' times still their own", () => {
    const timed = renderJUnit({
      name: 'r',
      time: 60,
      suites: [{ name: 's', testcases: [{ name: 'a', classname: 'c', time: 90 }] }],
    });
    expect(timed).to.contain(
      '<testsuites name="r" tests="1" failures="0" errors="0" skipped="0" time="60.000">',
    );
    expect(timed).to.contain(
      '<testsuite name="s" id="0" tests="1" failures="0" errors="0" skipped="0" time="90.000">',
    );
  });

  it('writes failure, error, skipped, properties and system-out, escaped', () => {
    expect(xml).to.contain(
      '<failure message="expected denied, observed allowed" type="leak">HTTP 200 &lt;echo&gt; &amp; &quot;quotes&quot;</failure>',
    );
    expect(xml).to.contain('<error message="exec failed"/>');
    expect(xml).to.contain('<skipped message="no sidecar"/>');
    expect(xml).to.contain('<property name="outcome" value="denied-l4"/>');
    expect(xml).to.contain('<property name="scenario" value="hard-isolation"/>');
    expect(xml).to.contain('<system-out>round 1: allowed</system-out>');
    expect(xml).to.contain('<testcase name="a -&gt; b" classname="cross-tenant" time="0.250">');
  });

  it('produces well-formed XML, dropping characters XML cannot carry', () => {
    expect(wellFormedXml(xml)).to.deep.equal([]);
    expect(xmlEscape('a\u0000b\u001bc<')).to.equal('abc&lt;');
    const nasty = renderJUnit({
      suites: [
        { name: 's', testcases: [{ name: '\u0007bell', classname: 'x', systemOut: ']]> <![CDATA[ \u0001' }] },
      ],
    });
    expect(wellFormedXml(nasty)).to.deep.equal([]);
  });

  it('the well-formedness check itself catches broken XML', () => {
    expect(wellFormedXml('<a><b></a>')).to.not.deep.equal([]);
    expect(wellFormedXml('<a x="1 & 2"/>')).to.not.deep.equal([]);
  });
});

describe('report: SARIF writer', () => {
  const log = JSON.parse(
    renderSarif({
      tool: {
        name: 'bulkhead',
        version: '0.1.0',
        rules: [
          { id: 'a/one', summary: 'first', help: 'why one', defaultLevel: 'error' },
          { id: 'b/two', summary: 'second', help: 'why two', defaultLevel: 'note' },
        ],
      },
      results: [
        { ruleId: 'b/two', level: 'note', message: 'm2', file: 'policies/x y.yaml', line: 3, column: 5 },
        { ruleId: 'a/one', level: 'error', message: 'm1', file: 'builtin:article', line: 0 },
        {
          ruleId: 'a/one',
          level: 'warning',
          message: 'm3',
          file: '/abs/p.yaml',
          line: 1,
          properties: { hint: 'h' },
        },
      ],
    }),
  ) as {
    $schema: string;
    version: string;
    runs: {
      tool: { driver: { name: string; rules: { id: string; defaultConfiguration: { level: string } }[] } };
      results: {
        ruleId: string;
        ruleIndex: number;
        level: string;
        message: { text: string };
        locations: {
          physicalLocation: { artifactLocation: { uri: string; uriBaseId?: string }; region?: unknown };
        }[];
        properties?: unknown;
      }[];
    }[];
  };

  it('is a SARIF 2.1.0 log with one run, its rules and results', () => {
    expect(log.version).to.equal('2.1.0');
    expect(log.$schema).to.contain('sarif-2.1.0');
    expect(log.runs).to.have.length(1);
    const run = log.runs[0]!;
    expect(run.tool.driver.name).to.equal('bulkhead');
    expect(run.tool.driver.rules.map((r) => r.id)).to.deep.equal(['a/one', 'b/two']);
    expect(run.tool.driver.rules[1]?.defaultConfiguration.level).to.equal('note');
    for (const r of run.results) expect(run.tool.driver.rules[r.ruleIndex]?.id).to.equal(r.ruleId);
  });

  it('locates results by relative path, absolute file URI or scheme URI, with a region when the line is known', () => {
    const [relative, builtin, absolute] = log.runs[0]!.results;
    expect(relative?.locations[0]?.physicalLocation).to.deep.equal({
      artifactLocation: { uri: 'policies/x%20y.yaml', uriBaseId: '%SRCROOT%' },
      region: { startLine: 3, startColumn: 5 },
    });
    expect(builtin?.locations[0]?.physicalLocation).to.deep.equal({
      artifactLocation: { uri: 'builtin:article' },
    });
    expect(absolute?.locations[0]?.physicalLocation.artifactLocation).to.deep.equal({
      uri: 'file:///abs/p.yaml',
    });
    expect(absolute?.properties).to.deep.equal({ hint: 'h' });
    expect(artifactUri('C:\\work\\a.yaml').uri).to.equal('C%3A/work/a.yaml');
  });
});
