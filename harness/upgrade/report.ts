/**
 * The report across phases (before, mixed, after an upgrade; or one phase per Istio version of
 * a matrix): which versions each phase really ran, every attempt whose outcome changed, the diff
 * of each phase against the one before it (the `bulkhead diff` model), every must-deny
 * boundary that failed anywhere, and what the probe stream saw through each transition between
 * phases (harness/upgrade/stream-analysis.ts): a leak there fails the check (exit 1) like a leak
 * in a phase; a must-allow disruption over the threshold is a warning (availability during an
 * upgrade is not isolation), shown with its length; a barrier that timed out after a transition
 * is a fault (the stream stopped before the mesh had settled). Data in (each phase's
 * results.json, the transitions), text out: a table for the terminal, JSON and JUnit for CI.
 * Never talks to a cluster.
 */
import { renderTable } from '../report/table.js';
import { diffResults, type ResultsDiff } from '../report/diff.js';
import { renderJUnit, type JUnitTestCase } from '../report/junit.js';
import type { ResultsDocument } from '../results/results-model.js';
import type { TransitionPart } from '../results/transition-schema.js';
import type { PhaseClaim } from './claims.js';
import { controlPlaneText, proxiesText, type ObservedVersions } from './observed.js';

export interface PhaseOutcome {
  /** `before`, `mixed`, `after`, or `istio-1.29.3`. */
  readonly name: string;
  /** What the phase is, for the reader: `Istio 1.29.3, sidecars 1.29.3`. */
  readonly title: string;
  /** The phase's folder, relative to the run folder. */
  readonly folder: string;
  readonly document: ResultsDocument;
  readonly versions: ObservedVersions;
  /** The phase's own exit code (0, 1, 2). */
  readonly exitCode: number;
  /** What the phase claims to be (the mixed state), as verified against the istiods. */
  readonly claim?: PhaseClaim;
}

/** Something that makes a phase's measurement untrustworthy: a claim that does not hold, or a NACK. */
export interface PhaseFault {
  readonly phase: string;
  readonly kind: 'claim' | 'config-rejected' | 'transition';
  readonly message: string;
  /** For a rejection: the xDS type the proxy rejected. */
  readonly type?: string;
  readonly pod?: string;
}

export interface PhaseDiff extends ResultsDiff {
  readonly fromPhase: string;
  readonly toPhase: string;
}

export interface MustDenyFailure {
  readonly phase: string;
  readonly id: string;
  readonly outcome: string;
  readonly reason: string;
}

/** The probe stream through one transition, and the phase it led into. */
export interface TransitionOutcome {
  readonly into: string;
  readonly part: TransitionPart;
}

export interface CrossPhaseReport {
  readonly kind: 'upgrade-check' | 'matrix';
  readonly phases: readonly PhaseOutcome[];
  readonly diffs: readonly PhaseDiff[];
  readonly mustDenyFailures: readonly MustDenyFailure[];
  /** Per phase: a claim that did not hold, each push a sidecar rejected. */
  readonly faults: readonly PhaseFault[];
  /** Attempt ids whose outcome, verdict or leak differs between any two phases. */
  readonly changed: readonly string[];
  /** The probe streams through the transitions, in order. */
  readonly transitions: readonly TransitionOutcome[];
  /** 1 a must-deny boundary failed or regressed, or leaked during a transition (or any expectation failed); 2 a phase could not judge or has a fault; else 0. */
  readonly exitCode: number;
}

export function crossPhaseReport(
  kind: CrossPhaseReport['kind'],
  phases: readonly PhaseOutcome[],
  transitions: readonly TransitionOutcome[] = [],
): CrossPhaseReport {
  const diffs: PhaseDiff[] = [];
  for (let i = 1; i < phases.length; i++) {
    const before = phases[i - 1];
    const after = phases[i];
    if (!before || !after) continue;
    diffs.push({
      ...diffResults(before.document, after.document),
      fromPhase: before.name,
      toPhase: after.name,
    });
  }
  const mustDenyFailures = phases.flatMap((p) =>
    p.document.attempts
      .filter((a) => a.mustDeny && a.verdict === 'fail')
      .map((a) => ({ phase: p.name, id: a.id, outcome: a.outcome, reason: a.reason })),
  );
  const ids = [...new Set(phases.flatMap((p) => p.document.attempts.map((a) => a.id)))];
  const changed = ids.filter((id) => {
    const seen = new Set(
      phases.map((p) => {
        const a = p.document.attempts.find((x) => x.id === id);
        return a ? `${a.outcome}|${a.verdict}|${String(a.leak)}` : 'absent';
      }),
    );
    return seen.size > 1;
  });
  const faults = [
    ...phases.flatMap((p) => phaseFaults(p)),
    ...transitions
      .filter((t) => t.part.barrier.status === 'timed-out')
      .map((t): PhaseFault => ({
        phase: t.into,
        kind: 'transition',
        message: `the ${t.part.name} transition did not settle before the stream stopped: ${t.part.barrier.reasoning}`,
      })),
  ];
  const regressions = diffs.some((d) => d.regressions > 0);
  const leaked = transitions.some((t) => t.part.leakCount > 0);
  const exitCode =
    mustDenyFailures.length > 0 || regressions || leaked
      ? 1
      : phases.some((p) => p.exitCode === 2) || faults.length > 0
        ? 2
        : phases.some((p) => p.exitCode === 1)
          ? 1
          : 0;
  return { kind, phases, diffs, mustDenyFailures, faults, changed, transitions, exitCode };
}

function phaseFaults(p: PhaseOutcome): PhaseFault[] {
  const claim: PhaseFault[] =
    p.claim && !p.claim.verified
      ? [
          {
            phase: p.name,
            kind: 'claim',
            message: `the ${p.name} phase is not ${p.claim.claim}: ${p.claim.detail}`,
          },
        ]
      : [];
  return [
    ...claim,
    ...p.versions.rejections.map((r): PhaseFault => ({
      phase: p.name,
      kind: 'config-rejected',
      type: r.type,
      pod: r.pod,
      message: `the sidecar of ${r.pod} rejected the ${r.type} push of istiod ${r.istiod} (revision ${r.revision}): ${r.message}`,
    })),
  ];
}

function cell(doc: ResultsDocument, id: string): string {
  const a = doc.attempts.find((x) => x.id === id);
  if (!a) return '-';
  return `${a.outcome}${a.leak ? ' (leak)' : ''} [${a.verdict}]`;
}

/**
 * The terminal view: the phases with the versions observed, then the attempts side by side
 * (only those that changed, unless `all`), then the must-deny failures.
 */
export function crossPhaseTable(report: CrossPhaseReport, all = false): string {
  const phases = renderTable(
    ['PHASE', 'WHAT', 'ISTIOD (OBSERVED)', 'SIDECARS (OBSERVED)', 'PASSED', 'FAILED', 'ERRORS', 'REPORTS'],
    report.phases.map((p) => [
      p.name,
      p.title,
      controlPlaneText(p.versions),
      proxiesText(p.versions),
      String(p.document.summary.passed),
      String(p.document.summary.failed),
      String(p.document.summary.errors),
      p.folder,
    ]),
  );
  const regressed = new Set(
    report.diffs.flatMap((d) => d.changes.filter((c) => c.regression).map((c) => c.id)),
  );
  const failed = new Set(report.mustDenyFailures.map((f) => f.id));
  const first = report.phases[0]?.document;
  const ids = all && first ? first.attempts.map((a) => a.id) : report.changed;
  const attempts =
    ids.length === 0
      ? `\nno outcome changed across the ${String(report.phases.length)} phases\n`
      : '\n' +
        renderTable(
          ['', 'ATTEMPT', 'EXPECT', ...report.phases.map((p) => p.name.toUpperCase())],
          ids.map((id) => {
            const expect =
              report.phases
                .map((p) => p.document.attempts.find((a) => a.id === id)?.expect)
                .find((e) => e !== undefined) ?? '';
            return [
              regressed.has(id)
                ? 'REGRESSION'
                : failed.has(id)
                  ? 'FAIL'
                  : report.changed.includes(id)
                    ? 'CHANGED'
                    : '',
              id,
              expect,
              ...report.phases.map((p) => cell(p.document, id)),
            ];
          }),
        );
  const failures =
    report.mustDenyFailures.length === 0
      ? 'every must-deny boundary held in every phase\n'
      : `${String(report.mustDenyFailures.length)} must-deny failure${report.mustDenyFailures.length === 1 ? '' : 's'}: ` +
        report.mustDenyFailures.map((f) => `${f.id} in ${f.phase} (${f.outcome})`).join(', ') +
        '\n';
  const claims = report.phases
    .filter((p) => p.claim?.verified)
    .map((p) => `${p.name}: ${p.claim?.claim ?? ''} verified: ${p.claim?.detail ?? ''}\n`)
    .join('');
  const faults = report.faults.map((f) => `FAULT ${f.message}\n`).join('');
  return `${phases}${attempts}\n${claims}${report.transitions.map(transitionLines).join('')}${faults}${String(report.changed.length)} attempt${report.changed.length === 1 ? '' : 's'} changed across phases; ${failures}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** `globex-to-acme allowed at 2026-12-01T00:00:03.100Z (+3.10 s) from tenant-globex/client-…` */
function leakText(l: TransitionPart['leaks'][number]): string {
  return `${l.attempt} ${l.outcome} at ${l.at} (+${seconds(l.offsetMs)}) from ${l.pod}`;
}

function gapText(g: TransitionPart['disruptions'][number]): string {
  return `${g.attempt} without success for ${seconds(g.gapMs)} from +${seconds(g.startOffsetMs)} (${g.from}), ${String(g.failures)} failures in a row${g.closed ? '' : ', not recovered when the stream stopped'}`;
}

/** The terminal's lines for one transition. */
function transitionLines(t: TransitionOutcome): string {
  const p = t.part;
  const observed = p.attempts.reduce((n, a) => n + a.observed, 0);
  const head = `TRANSITION ${p.name} (${p.title}, into ${t.into}): ${String(observed)} attempts from ${String(p.sources.length)} sources over ${seconds(p.durationMs)} at ${String(p.method.ratePerSecond)}/s per source, ${String(p.errors)} errors; barrier ${p.barrier.status}${p.completed ? '' : '; the transition did not complete'}\n`;
  const leaks = p.leaks.map((l) => `  LEAK ${leakText(l)}\n`).join('');
  const more = p.leakCount > p.leaks.length ? `  … ${String(p.leakCount - p.leaks.length)} more leaks\n` : '';
  const gaps = p.disruptions.map((g) => `  WARNING disruption: ${gapText(g)}\n`).join('');
  return `${head}${leaks}${more}${gaps}`;
}

export function crossPhaseJson(report: CrossPhaseReport): string {
  const ids = [...new Set(report.phases.flatMap((p) => p.document.attempts.map((a) => a.id)))];
  return (
    JSON.stringify(
      {
        v: 1,
        kind: `bulkhead-${report.kind}`,
        exitCode: report.exitCode,
        phases: report.phases.map((p) => ({
          name: p.name,
          title: p.title,
          folder: p.folder,
          run: p.document.run.id,
          startedAt: p.document.run.startedAt,
          exitCode: p.exitCode,
          summary: p.document.summary,
          observed: p.versions,
          ...(p.claim ? { claim: p.claim } : {}),
        })),
        changed: report.changed,
        mustDenyFailures: report.mustDenyFailures,
        transitions: report.transitions.map((t) => ({ into: t.into, ...t.part })),
        faults: report.faults,
        diffs: report.diffs,
        attempts: ids.map((id) => ({
          id,
          phases: Object.fromEntries(
            report.phases.map((p) => {
              const a = p.document.attempts.find((x) => x.id === id);
              return [
                p.name,
                a
                  ? {
                      outcome: a.outcome,
                      layer: a.layer,
                      verdict: a.verdict,
                      leak: a.leak,
                      mustDeny: a.mustDeny,
                    }
                  : null,
              ];
            }),
          ),
        })),
      },
      null,
      2,
    ) + '\n'
  );
}

/** The phase's claim (passing when verified) and each of its faults, as JUnit errors: nothing was judged there. */
function phaseFaultCases(report: CrossPhaseReport, p: PhaseOutcome): JUnitTestCase[] {
  const faults = report.faults.filter((f) => f.phase === p.name);
  const claim: JUnitTestCase[] = p.claim
    ? [
        {
          name: `${p.name} is ${p.claim.claim}`,
          classname: `phase.${p.name}.claim`,
          systemOut: p.claim.detail,
          ...(p.claim.verified ? {} : { error: { message: p.claim.detail, type: 'claim' } }),
        },
      ]
    : [];
  return [
    ...claim,
    ...faults
      .filter((f) => f.kind === 'config-rejected')
      .map((f): JUnitTestCase => ({
        name: `${f.pod ?? ''} rejected ${f.type ?? ''} [${p.name}]`,
        classname: `phase.${p.name}.config`,
        error: { message: f.message, type: f.type ?? 'config-rejected' },
      })),
  ];
}

/**
 * JUnit: per phase, the phase's claim and config rejections, then one test case per must-deny attempt (failing where the boundary failed);
 * per pair of phases, one test case per change (failing for a must-deny regression).
 */
export function crossPhaseJUnit(report: CrossPhaseReport): string {
  const phaseSuites = report.phases.map((p) => ({
    name: `phase.${p.name}`,
    properties: [
      ['title', p.title],
      ['istiod', controlPlaneText(p.versions)],
      ['sidecars', proxiesText(p.versions)],
      ['folder', p.folder],
    ] as [string, string][],
    testcases: [
      ...phaseFaultCases(report, p),
      ...p.document.attempts
        .filter((a) => a.mustDeny)
        .map((a): JUnitTestCase => {
          const base: JUnitTestCase = {
            name: `${a.id} [${p.name}]`,
            classname: `phase.${p.name}.${a.category}`,
            properties: [
              ['outcome', a.outcome],
              ['verdict', a.verdict],
            ],
          };
          if (a.verdict === 'fail')
            return {
              ...base,
              failure: { message: `must-deny boundary failed in ${p.name}: ${a.reason}`, type: a.outcome },
            };
          if (a.verdict === 'error') return { ...base, error: { message: a.reason, type: 'error' } };
          // Not attempted, or never settled before the phase was interrupted: neither passed nor failed.
          if (a.verdict === 'skipped' || a.verdict === 'not-judged')
            return { ...base, skipped: { message: a.reason } };
          return base;
        }),
    ],
  }));
  const diffSuites = report.diffs.map((d) => ({
    name: `diff.${d.fromPhase}-${d.toPhase}`,
    properties: [
      ['before', d.fromPhase],
      ['after', d.toPhase],
      ['unchanged', String(d.unchanged)],
    ] as [string, string][],
    testcases: d.changes.map((c): JUnitTestCase => ({
      name: `${c.id}: ${c.kind}`,
      classname: `diff.${d.fromPhase}-${d.toPhase}.${c.category}`,
      properties: [
        ['before', c.before ? `${c.before.outcome} ${c.before.verdict}` : 'absent'],
        ['after', c.after ? `${c.after.outcome} ${c.after.verdict}` : 'absent'],
        ['must-deny', String(c.mustDeny)],
      ],
      systemOut: c.summary,
      ...(c.regression
        ? {
            failure: {
              message: `must-deny regression from ${d.fromPhase} to ${d.toPhase}: ${c.summary}`,
              type: c.kind,
            },
          }
        : {}),
    })),
  }));
  const transitionSuites = report.transitions.map((t) => ({
    name: `transition.${t.part.name}`,
    properties: [
      ['title', t.part.title],
      ['into', t.into],
      ['startedAt', t.part.startedAt],
      ['endedAt', t.part.endedAt],
      ['ratePerSecond', String(t.part.method.ratePerSecond)],
      ['barrier', t.part.barrier.status],
    ] as [string, string][],
    testcases: [transitionCase(t)],
  }));
  return renderJUnit({
    name: `bulkhead ${report.kind}`,
    suites: [...phaseSuites, ...transitionSuites, ...diffSuites],
  });
}

/**
 * One test case per transition: failing when a must-deny attempt was seen granted (each leak with
 * its time); a disruption over the threshold does not fail it, it is listed as a warning.
 */
function transitionCase(t: TransitionOutcome): JUnitTestCase {
  const p = t.part;
  const maxGap = Math.max(0, ...p.attempts.map((a) => a.maxGapMs ?? 0));
  const lines = [
    p.method.rule,
    `barrier ${p.barrier.status}: ${p.barrier.reasoning}`,
    ...p.disruptions.map((g) => `WARNING disruption: ${gapText(g)}`),
    ...(p.errors > 0 ? [`${String(p.errors)} probe errors (not denies, not disruptions)`] : []),
  ];
  const base: JUnitTestCase = {
    name: `${p.name}: no must-deny attempt allowed while it ran [${t.into}]`,
    classname: `transition.${p.name}`,
    properties: [
      ['leaks', String(p.leakCount)],
      ['disruptions', String(p.disruptions.length)],
      ['maxGapMs', String(maxGap)],
      ['errors', String(p.errors)],
    ],
    systemOut: lines.join('\n'),
  };
  if (p.leakCount === 0) return base;
  return {
    ...base,
    failure: {
      message: `${String(p.leakCount)} leak${p.leakCount === 1 ? '' : 's'} during the ${p.name} transition: ${p.leaks
        .slice(0, 5)
        .map(leakText)
        .join('; ')}`,
      type: 'leak',
    },
  };
}
