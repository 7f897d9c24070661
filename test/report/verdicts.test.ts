/**
 * Honest totals: what report.html's banner and junit.xml say about a run that did not test
 * everything (interrupted: attempts not made, attempts seen once and never settled) or tested
 * nothing (no attempts). Neither is ever a PASS; an interrupted run's unsettled passes are not
 * counted as passed; JUnit opens such a run with a `bulkhead.run` error CI views show in red.
 */
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { renderHtmlReport } from '../../harness/report/html.js';
import { runJUnit } from '../../harness/report/run-junit.js';
import type { AttemptEntry, ResultsDocument } from '../../harness/results/results-model.js';
import { emptyDocument, generatedDocument, interruptedDocument } from './generated.js';
import { xsdValidate } from './support.js';

const XSD = fileURLToPath(new URL('../../harness/report/schemas/junit.xsd', import.meta.url));

const banner = (html: string) => {
  const m = /<div class="banner (\w+)" data-verdict="\w+">([^<]*)<\/div>\n<div>([^<]*)<\/div>/.exec(html);
  return { kind: m?.[1], words: m?.[2] ?? '', counts: m?.[3] ?? '' };
};

/** Each attempt's testcase in the JUnit text, by attempt id. */
function testcases(xml: string): Map<string, string> {
  return new Map(
    [...xml.matchAll(/<testcase name="([^:"]+): [^"]*"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)].map((m) => [
      m[1] ?? '',
      m[2] ?? '',
    ]),
  );
}

function allPassed(): ResultsDocument {
  const doc = generatedDocument();
  const attempts = doc.attempts.filter((a) => a.verdict === 'pass');
  return generatedDocument(attempts);
}

describe('report: honest totals for an interrupted run and a run with no attempts', () => {
  it('a complete run where every expectation held is a PASS (what the other verdicts are measured against)', () => {
    const doc = allPassed();
    const b = banner(renderHtmlReport({ document: doc }));
    expect(b.kind).to.equal('pass');
    expect(b.words).to.equal(`PASS: every one of ${doc.attempts.length} isolation expectations held`);
    const xml = runJUnit(doc);
    expect(xml).to.not.contain('bulkhead.run');
    expect(xml).to.contain('<property name="run.complete" value="true"/>');
  });

  it('HTML: an interrupted run is INCOMPLETE with its counts, and its unsettled passes are not counted as passed', () => {
    const doc = interruptedDocument();
    const skipped = doc.attempts.filter((a) => a.verdict === 'skipped').length;
    const unsettled = doc.attempts.filter((a) => a.verdict === 'not-judged').length;
    const passed = doc.attempts.length - skipped - unsettled;
    expect(skipped).to.be.greaterThan(0);
    expect(unsettled).to.be.greaterThan(0);
    // results.json counts them as a verdict of their own, neither passed nor failed.
    expect(doc.summary).to.deep.include({ passed, failed: 0, notJudged: unsettled, skipped });
    const b = banner(renderHtmlReport({ document: doc }));
    expect(b.kind).to.equal('incomplete');
    expect(b.words).to.equal(
      `INCOMPLETE: ${skipped} not attempted; the run was interrupted; ${unsettled} observed but never settled (not judged, not counted as passed); ${passed} of ${doc.attempts.length} passed`,
    );
    expect(b.counts).to.equal(
      `${passed} passed · 0 failed · 0 errors · ${skipped} not attempted · ${unsettled} not judged (never settled)`,
    );
    const html = renderHtmlReport({ document: doc });
    expect(html).to.not.match(/PASS:/);
    // The per-boundary rows say it too, and the matrix cells are amber, never green, for them.
    expect(html.match(/<tr class="v-not-judged"><td class="verdict">NOT JUDGED</g)).to.have.length(unsettled);
    expect(html.match(/<tr class="v-skipped"><td class="verdict">NOT ATTEMPTED</g)).to.have.length(skipped);
    expect(html).to.match(/data-state="error"[^>]*><span class="item">1 allowed \(not settled\)/);
  });

  it('HTML: an interrupted run with a failure is a FAIL and says it is incomplete', () => {
    const doc = interruptedDocument({ failures: true });
    const b = banner(renderHtmlReport({ document: doc }));
    expect(b.kind).to.equal('fail');
    expect(b.words).to.match(
      /^FAIL: 2 of \d+ isolation expectations did not hold \(1 leak\); INCOMPLETE: 1 attempt could not be judged; \d+ not attempted; the run was interrupted; \d+ observed but never settled/,
    );
  });

  it('HTML: a run with no attempts is never a PASS: nothing was tested', () => {
    const html = renderHtmlReport({ document: emptyDocument() });
    const b = banner(html);
    expect(b.kind).to.equal('empty');
    expect(b.words).to.equal('NO ATTEMPTS: nothing was tested');
    expect(html).to.not.contain('PASS');
    expect(html).to.contain('<b>No attempts: nothing was tested.</b>');
    expect(html).to.contain('None, because nothing was tested.');
  });

  it('JUnit: an interrupted run opens with a bulkhead.run error, and nothing unjudged is a passed test', async () => {
    const doc = interruptedDocument();
    const xml = runJUnit(doc, [], { relativeTo: '/' });
    const skipped = doc.attempts.filter((a) => a.verdict === 'skipped');
    const unsettled = doc.attempts.filter((a) => a.verdict === 'not-judged');
    expect(xml).to.contain(
      '<testsuite name="bulkhead.run" id="0" tests="1" failures="0" errors="1" skipped="0"',
    );
    expect(xml).to.match(
      new RegExp(
        `<error message="INCOMPLETE: ${skipped.length} not attempted; the run was interrupted; ${unsettled.length} observed but never settled \\(not judged, not counted as passed\\); \\d+ of ${doc.attempts.length} passed \\(\\d+ passed, 0 failed, 0 errors, ${skipped.length} not attempted, ${unsettled.length} not judged \\(never settled\\)\\)" type="run-interrupted">`,
      ),
    );
    expect(xml).to.match(
      /classname="bulkhead\.run\.completeness" time="60\.000" file="scenarios\/generated\.yaml"/,
    );
    expect(xml).to.contain('<property name="run.complete" value="false"/>');
    expect(xml).to.contain('<property name="run.interrupted" value="true"/>');
    const root = /^<testsuites [^>]*>$/m.exec(xml)?.[0] ?? '';
    expect(root).to.contain(`tests="${doc.attempts.length + 1}" failures="0" errors="1"`);
    expect(root).to.contain(`skipped="${skipped.length + unsettled.length}"`);
    const cases = testcases(xml);
    const check = (list: AttemptEntry[], skippedMessage: RegExp) => {
      for (const a of list) expect(cases.get(a.id), a.id).to.match(skippedMessage);
    };
    check(skipped, /<skipped message="not attempted: the run was interrupted first"\/>/);
    check(
      unsettled,
      /<skipped message="not judged: the run was interrupted before the outcome settled \(expected \S+, observed \S+( at [^"]+)? in 1 round\)"\/>[\s\S]*verdict not judged/,
    );
    const verdict = await xsdValidate(xml, XSD);
    if (verdict) expect(verdict.ok, verdict.output).to.be.true;
  });

  it('a results.json written before not-judged existed (a pass of an interrupted run that never settled) reads as not judged', () => {
    const doc = interruptedDocument();
    const legacy = doc.attempts.map((a) =>
      a.verdict === 'not-judged' ? { ...a, verdict: 'pass' as const } : a,
    );
    const old = { ...doc, attempts: legacy, summary: { ...doc.summary, notJudged: undefined } };
    const unsettled = doc.summary.notJudged ?? 0;
    expect(unsettled).to.be.greaterThan(0);
    expect(banner(renderHtmlReport({ document: old })).counts).to.contain(
      `${unsettled} not judged (never settled)`,
    );
    const root = /^<testsuites [^>]*>$/m.exec(runJUnit(old))?.[0] ?? '';
    expect(root).to.contain(`skipped="${doc.summary.skipped + unsettled}"`);
  });

  it('JUnit: a run with no attempts is one error, not an empty green run', async () => {
    const xml = runJUnit(emptyDocument());
    expect(xml).to.contain(
      '<testsuites name="bulkhead run generated-4x16 generated-empty" tests="1" failures="0" errors="1"',
    );
    expect(xml).to.contain('<error message="NO ATTEMPTS: nothing was tested" type="no-attempts">');
    expect(xml).to.contain('<property name="run.complete" value="false"/>');
    const verdict = await xsdValidate(xml, XSD);
    if (verdict) expect(verdict.ok, verdict.output).to.be.true;
  });

  it("JUnit: the root's time is the run's wall time, not the sum of the attempts' spans", () => {
    const doc = generatedDocument();
    const xml = runJUnit(doc);
    const root = /^<testsuites [^>]*>$/m.exec(xml)?.[0] ?? '';
    expect(root).to.match(/ time="60\.000"/);
    const suites = [...xml.matchAll(/<testsuite [^>]* time="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(suites.reduce((a, b) => a + b, 0)).to.be.greaterThan(60);
  });
});
