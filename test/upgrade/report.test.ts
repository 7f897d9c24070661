/**
 * The cross-phase report over real results documents (the shared fake-cluster run of the report
 * tests): which attempts changed, which must-deny boundaries failed in which phase, the exit
 * code, and the table, JSON and JUnit views.
 */
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { buildResults } from '../../harness/results/build-results.js';
import type { AttemptEntry, ResultsDocument } from '../../harness/results/results-model.js';
import { verifyMixed } from '../../harness/upgrade/claims.js';
import type { ObservedVersions } from '../../harness/upgrade/observed.js';
import {
  crossPhaseJson,
  crossPhaseJUnit,
  crossPhaseReport,
  crossPhaseTable,
  type PhaseOutcome,
} from '../../harness/upgrade/report.js';
import { wellFormedXml } from '../policies/xml-check.js';
import { fakeRun, xsdValidate } from '../report/support.js';

const XSD = fileURLToPath(new URL('../../harness/report/schemas/junit.xsd', import.meta.url));

const versions = (istiod: string, proxy: string): ObservedVersions => ({
  controlPlanes: [{ name: 'istiod', revision: 'default', version: istiod }],
  pods: [
    { pod: 'tenant-acme/client-1', uid: 'u1', proxy },
    { pod: 'tenant-acme/probe-nosidecar', uid: 'u2', proxy: 'none' },
  ],
  rejections: [],
});

function phase(
  name: string,
  document: ResultsDocument,
  exitCode: number,
  observed: ObservedVersions,
): PhaseOutcome {
  return { name, title: name, folder: name, document, versions: observed, exitCode };
}

function passing(doc: ResultsDocument): ResultsDocument {
  const ok = (a: AttemptEntry): AttemptEntry =>
    a.mustDeny
      ? { ...a, verdict: 'pass', outcome: 'denied-l7', layer: 'l7', leak: false }
      : { ...a, verdict: 'pass' };
  return { ...doc, attempts: doc.attempts.map(ok) };
}

describe('upgrade: the cross-phase report', function () {
  this.timeout(60_000);
  let observed: ResultsDocument;
  let clean: ResultsDocument;

  before(async () => {
    const run = await fakeRun();
    observed = buildResults({
      records: run.records,
      scenario: run.scenario,
      version: '0.1.0',
    });
    clean = passing(observed);
  });

  it('finds the attempts that changed, the must-deny failures per phase, and exits 1 for a leak in the mixed phase only', () => {
    const report = crossPhaseReport('upgrade-check', [
      phase('before', clean, 0, versions('1.29.3', '1.29.3')),
      phase('mixed', observed, 1, versions('1.30.4', '1.29.3')),
      phase('after', clean, 0, versions('1.30.4', '1.30.4')),
    ]);
    const leaks = observed.attempts.filter((a) => a.mustDeny && a.verdict === 'fail').map((a) => a.id);
    expect(leaks).to.include('initech-to-acme');
    expect(report.mustDenyFailures.map((f) => `${f.phase} ${f.id}`)).to.deep.equal(
      leaks.map((id) => `mixed ${id}`),
    );
    expect(report.changed).to.include.members(leaks);
    expect(report.diffs.map((d) => [d.fromPhase, d.toPhase])).to.deep.equal([
      ['before', 'mixed'],
      ['mixed', 'after'],
    ]);
    expect(report.diffs[0]?.regressions).to.be.at.least(1);
    expect(report.exitCode).to.equal(1);
    const table = crossPhaseTable(report);
    expect(table).to.match(/^mixed\s+mixed\s+1\.30\.4\s+1\.29\.3 ×1, none ×1\s/m);
    expect(table).to.match(
      /^REGRESSION\s+initech-to-acme\s+denied\s+denied-l7 \[pass\]\s+allowed \(leak\) \[fail\]\s+denied-l7 \[pass\]$/m,
    );
  });

  it('exits 2 when a phase could not judge and nothing failed, 1 for a failed must-allow, 0 when all held', () => {
    const unjudged = {
      ...clean,
      attempts: clean.attempts.map((a, i) => (i === 0 ? { ...a, verdict: 'error' as const } : a)),
    };
    expect(
      crossPhaseReport('matrix', [
        phase('a', clean, 0, versions('1.29.3', '1.29.3')),
        phase('b', unjudged, 2, versions('1.30.4', '1.30.4')),
      ]).exitCode,
    ).to.equal(2);
    const allowFailed = {
      ...clean,
      attempts: clean.attempts.map((a) =>
        a.mustDeny ? a : { ...a, verdict: 'fail' as const, outcome: 'refused' as const },
      ),
    };
    const report = crossPhaseReport('matrix', [
      phase('a', clean, 0, versions('1.29.3', '1.29.3')),
      phase('b', allowFailed, 1, versions('1.30.4', '1.30.4')),
    ]);
    expect(report.mustDenyFailures).to.deep.equal([]);
    expect(report.exitCode).to.equal(1);
    const held = crossPhaseReport('matrix', [
      phase('a', clean, 0, versions('1.29.3', '1.29.3')),
      phase('b', clean, 0, versions('1.30.4', '1.30.4')),
    ]);
    expect(held.exitCode).to.equal(0);
    expect(held.changed).to.deep.equal([]);
    // The matrix view lists every attempt, changed or not.
    const all = crossPhaseTable(held, true);
    for (const a of clean.attempts) expect(all).to.match(new RegExp(`^\\s+${a.id}\\s`, 'm'));
    expect(crossPhaseTable(held)).to.contain('no outcome changed across the 2 phases');
  });

  it('writes JSON with each phase side by side and JUnit that fails exactly the broken must-deny boundaries', async () => {
    const report = crossPhaseReport('upgrade-check', [
      phase('before', clean, 0, versions('1.29.3', '1.29.3')),
      phase('mixed', observed, 1, versions('1.30.4', '1.29.3')),
    ]);
    const json = JSON.parse(crossPhaseJson(report)) as {
      kind: string;
      exitCode: number;
      attempts: { id: string; phases: Record<string, { verdict: string } | null> }[];
    };
    expect(json.kind).to.equal('bulkhead-upgrade-check');
    expect(json.exitCode).to.equal(1);
    expect(json.attempts.find((a) => a.id === 'initech-to-acme')?.phases).to.deep.include({
      before: { outcome: 'denied-l7', layer: 'l7', verdict: 'pass', leak: false, mustDeny: true },
    });
    expect(json.attempts.find((a) => a.id === 'initech-to-acme')?.phases.mixed?.verdict).to.equal('fail');
    const junit = crossPhaseJUnit(report);
    expect(wellFormedXml(junit)).to.deep.equal([]);
    const verdict = await xsdValidate(junit, XSD);
    if (verdict) expect(verdict.ok, verdict.output).to.equal(true);
    const mustDeny = observed.attempts.filter((a) => a.mustDeny);
    const failures = [...junit.matchAll(/<failure message="([^"]*)"/g)].map((m) => m[1] ?? '');
    const leaks = mustDeny.filter((a) => a.verdict === 'fail').length;
    expect(failures.filter((f) => f.startsWith('must-deny boundary failed in mixed'))).to.have.length(leaks);
    expect(failures.filter((f) => f.startsWith('must-deny boundary failed in before'))).to.have.length(0);
    expect(failures.filter((f) => f.startsWith('must-deny regression from before to mixed'))).to.have.length(
      report.diffs[0]?.regressions ?? -1,
    );
    expect(junit.match(/<testsuite name="phase\.before" id="0" tests="(\d+)"/)?.[1]).to.equal(
      String(mustDeny.length),
    );
  });

  it('JUnit: a must-deny attempt a phase did not make, or never settled, is skipped with its reason, not passed', () => {
    const [first, second] = clean.attempts.filter((a) => a.mustDeny);
    const interrupted: ResultsDocument = {
      ...clean,
      run: { ...clean.run, interrupted: true },
      attempts: clean.attempts.map((a) =>
        a.id === first?.id
          ? { ...a, verdict: 'skipped', reason: 'not attempted: the run was interrupted first' }
          : a.id === second?.id
            ? {
                ...a,
                verdict: 'not-judged',
                reason: 'not judged: the run was interrupted before the outcome settled',
              }
            : a,
      ),
    };
    const junit = crossPhaseJUnit(
      crossPhaseReport('upgrade-check', [phase('before', interrupted, 2, versions('1.29.3', '1.29.3'))]),
    );
    expect(junit).to.contain('<skipped message="not attempted: the run was interrupted first"/>');
    expect(junit).to.contain(
      '<skipped message="not judged: the run was interrupted before the outcome settled"/>',
    );
    expect(junit).to.match(
      /<testsuite name="phase\.before" id="0" tests="\d+" failures="0" errors="0" skipped="2"/,
    );
  });

  describe('phase claims: a phase is called mixed only when the istiods say so', () => {
    const served = (version: string, revision = 'default') => ({
      istiod: `istio-system/istiod-${revision}-1`,
      revision,
      version,
    });
    const pods = (...specs: [string, string, string, ReturnType<typeof served> | undefined][]) =>
      specs.map(([pod, workload, proxy, by]) => ({
        pod,
        uid: pod,
        proxy,
        workload,
        ...(by ? { servedBy: by } : {}),
      }));
    const observedWith = (p: ObservedVersions['pods'], servingError?: string): ObservedVersions => ({
      controlPlanes: [],
      pods: p,
      rejections: [],
      ...(servingError ? { servingError } : {}),
    });

    it('in place: every old sidecar served by the new istiod; one recreated pod, or an unread istiod, is not mixed', () => {
      const doc = clean;
      const ok = verifyMixed({
        method: 'in-place',
        from: '1.29.3',
        to: '1.30.4',
        document: doc,
        observed: observedWith(
          pods(['tenant-acme/a', 'a', '1.29.3', served('1.30.4')], ['tenant-acme/n', 'n', 'none', undefined]),
        ),
      });
      expect(ok).to.deep.equal({
        claim: 'mixed',
        verified: true,
        detail: '1 sidecars at 1.29.3, each served by istiod 1.30.4',
      });
      const recreated = verifyMixed({
        method: 'in-place',
        from: '1.29.3',
        to: '1.30.4',
        document: doc,
        observed: observedWith(
          pods(
            ['tenant-acme/a', 'a', '1.29.3', served('1.30.4')],
            ['tenant-acme/b', 'b', '1.30.4', served('1.30.4')],
          ),
        ),
      });
      expect(recreated.verified).to.equal(false);
      expect(recreated.detail).to.equal(
        'not every sidecar is 1.29.3 served by istiod 1.30.4: tenant-acme/b is 1.30.4 served by 1.30.4 (default)',
      );
      const unread = verifyMixed({
        method: 'in-place',
        from: '1.29.3',
        to: '1.30.4',
        document: doc,
        observed: observedWith(pods(['tenant-acme/a', 'a', '1.29.3', undefined]), 'exec refused'),
      });
      expect(unread).to.deep.include({
        verified: false,
        detail: 'the istiods could not be asked which proxies they serve (exec refused)',
      });
    });

    it("revision: sidecars still all on the old istiod (the default revision's Service) is not mixed, and exits 2", () => {
      const attempt = clean.attempts.find((a) => a.to && a.kind === 'http');
      if (!attempt?.to) throw new Error('an http attempt');
      const { from, to } = attempt;
      const stayed = observedWith(
        pods(
          [`${from.namespace}/x`, from.name, '1.29.3', served('1.29.3')],
          [`${to.namespace}/y`, to.name, '1.30.4', served('1.29.3')],
        ),
      );
      const claim = verifyMixed({
        method: 'revision',
        from: '1.29.3',
        to: '1.30.4',
        document: clean,
        observed: stayed,
      });
      expect(claim).to.deep.include({
        verified: false,
        detail: 'the sidecars are not on both control planes (2 served by 1.29.3 (default))',
      });
      const report = crossPhaseReport('upgrade-check', [{ ...phase('mixed', clean, 0, stayed), claim }]);
      expect(report.exitCode).to.equal(2);
      expect(report.faults.map((f) => f.message)).to.deep.equal([
        'the mixed phase is not mixed: the sidecars are not on both control planes (2 served by 1.29.3 (default))',
      ]);
      expect(crossPhaseJUnit(report)).to.match(
        /<testcase name="mixed is mixed"[^>]*>[\s\S]*?<error message="the sidecars are not on both/,
      );
      // Moved: the source on the new revision, the destination on the old one.
      const moved = observedWith(
        pods(
          [`${from.namespace}/x`, from.name, '1.30.4', served('1.30.4', '1-30-4')],
          [`${to.namespace}/y`, to.name, '1.29.3', served('1.29.3')],
        ),
      );
      const mixed = verifyMixed({
        method: 'revision',
        from: '1.29.3',
        to: '1.30.4',
        document: clean,
        observed: moved,
      });
      expect(mixed.verified).to.equal(true);
      expect(mixed.crossRevision).to.include(attempt.id);
    });
  });
});
