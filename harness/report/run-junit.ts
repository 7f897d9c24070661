/**
 * JUnit for a run, written from the result model (results.json), not from mocha's reporters,
 * which cannot carry testcase properties, evidence or the failure/error split (anchors §4.5).
 * Shape per anchors §1.8: one `<testsuites>` root, one flat `<testsuite>` per category, unique
 * (classname, name) with no dots from addresses in classnames, `<failure>` for an expectation
 * that did not hold, `<error>` for a harness fault, `<skipped>` for what was not attempted and
 * for an interrupted run's passes that never settled (not judged).
 * Users' own suites (`--suite`) follow as one testsuite per top-level describe.
 *
 * A run that did not test everything it meant to (interrupted, attempts not made or not
 * settled, a fault, or no attempts at all) opens with a `bulkhead.run` suite holding one
 * `<error>`: CI views (Jenkins, GitLab, GitHub's JUnit reporters) render a testcase's error as a
 * red, counted test, while they ignore `<properties>`; so the incomplete run cannot read as all
 * green. The `run.complete` property says the same to tools that do read properties.
 */
import path from 'node:path';

import { CATEGORIES } from '../scenario/outcomes.js';
import {
  attemptTitle,
  evidenceText,
  runVerdict,
  shownVerdict,
  tally,
  tallyText,
  verdictMessage,
} from '../results/describe.js';
import { renderJUnit, type JUnitTestCase, type JUnitTestSuite } from './junit.js';
import type { AttemptEntry, ResultsDocument } from '../results/results-model.js';

/** One test of a user's suite as mocha ran it. */
export interface SuiteTestRecord {
  /** The top-level describe (or the file, for tests outside any describe). */
  readonly suite: string;
  readonly title: string;
  readonly fullTitle: string;
  readonly file?: string;
  readonly state: 'passed' | 'failed' | 'pending';
  readonly durationMs: number;
  readonly error?: { readonly name: string; readonly message: string; readonly stack?: string };
}

/** Run-level properties, repeated on every suite (JUnit has no root properties; CI tools read suites). */
export function runProperties(doc: ResultsDocument): [string, string][] {
  const p: [string, string | undefined][] = [
    ['run.id', doc.run.id],
    ['run.trigger', doc.run.trigger],
    ['scenario', doc.method.scenario.name],
    ['scenario.sha256', doc.method.scenario.sha256],
    ['bulkhead.version', doc.versions.bulkhead],
    ['bulkhead.commit', doc.versions.gitCommit],
    ['kubernetes.version', doc.versions.kubernetes],
    ['calico.version', doc.versions.calico],
    ['istio.version', doc.versions.istio],
    ['provider', doc.scope.provider],
    ['environment', doc.scope.environment],
    ['cluster', doc.scope.cluster],
    ['stable-rounds', String(doc.method.stableRounds)],
    ['run.interrupted', String(doc.run.interrupted)],
    ['run.complete', String(tally(doc).complete)],
  ];
  return p.filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
}

function seconds(a: AttemptEntry): number {
  if (!a.firstObservedAt || !a.lastObservedAt) return 0;
  const ms = Date.parse(a.lastObservedAt) - Date.parse(a.firstObservedAt);
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

export interface RunJUnitOptions {
  /**
   * Paths in `file` attributes are made relative to this folder (the repository, for GitHub
   * annotations to point at the scenario). @default paths as recorded
   */
  readonly relativeTo?: string;
}

function shownPath(file: string, relativeTo: string | undefined): string {
  if (!relativeTo || !path.isAbsolute(file)) return file;
  const relative = path.relative(relativeTo, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

/**
 * One attempt as a testcase. With the run, an interrupted run's pass that never settled is
 * `<skipped>` (not judged), as the reports count it.
 */
export function attemptTestCase(
  a: AttemptEntry,
  options: RunJUnitOptions = {},
  run?: Pick<ResultsDocument['run'], 'interrupted'>,
): JUnitTestCase {
  const properties: [string, string][] = [
    ['source', `${a.from.namespace}/${a.from.name}`],
    ['destination', a.to ? `${a.to.namespace}/${a.to.name}` : a.target],
    ...(a.port === undefined ? [] : [['port', String(a.port)] as [string, string]]),
    ['expected', a.expect],
    ['observed', a.outcome],
    ['layer', a.layer],
    ['rounds', String(a.rounds)],
    ['stable', String(a.stable)],
    ...(a.prediction
      ? [['prediction', `${a.prediction.outcome} (${a.prediction.layer})`] as [string, string]]
      : []),
    ...(a.prediction?.wouldChange
      ? [
          [
            'would-change',
            `${a.prediction.outcome} -> ${a.prediction.wouldChange.outcome} if Calico's staged policies were enforced`,
          ] as [string, string],
        ]
      : []),
  ];
  const base: JUnitTestCase = {
    name: attemptTitle(a),
    // Namespaces are DNS labels: no dots, so Jenkins' package split stays `bulkhead.<category>`.
    classname: `bulkhead.${a.category}.${a.from.namespace}`,
    time: seconds(a),
    file: shownPath(a.origin.file, options.relativeTo),
    line: a.origin.line,
    properties,
    systemOut: evidenceText(a, run),
  };
  const message = verdictMessage(a, run);
  switch (run ? shownVerdict(a, run) : a.verdict) {
    case 'fail':
      return {
        ...base,
        failure: { message, type: a.leak ? 'leak' : a.outcome, text: evidenceText(a, run) },
      };
    case 'error':
      return { ...base, error: { message, type: 'harness-fault', text: evidenceText(a, run) } };
    case 'skipped':
    case 'not-judged':
      return { ...base, skipped: { message } };
    case 'pass':
    default:
      return base;
  }
}

/**
 * The `bulkhead.run` suite of a run that did not test everything it meant to: one `<error>`
 * saying why and with what counts; none for a complete run.
 */
export function completenessSuite(
  doc: ResultsDocument,
  props: [string, string][],
  options: RunJUnitOptions = {},
): JUnitTestSuite[] {
  const t = tally(doc);
  if (t.complete) return [];
  const verdict = runVerdict(doc);
  const message = t.attempts === 0 ? verdict.words : `${verdict.words} (${tallyText(t, ', ')})`;
  return [
    {
      name: 'bulkhead.run',
      timestamp: doc.run.startedAt,
      properties: props,
      testcases: [
        {
          name: `run ${doc.run.id}: every attempt of the scenario made and judged`,
          classname: 'bulkhead.run.completeness',
          time: wallSeconds(doc),
          file: shownPath(doc.method.scenario.file, options.relativeTo),
          error: {
            message,
            type:
              t.attempts === 0 ? 'no-attempts' : doc.run.interrupted ? 'run-interrupted' : 'run-incomplete',
            text: [
              message,
              `run ${doc.run.id} from ${doc.run.startedAt} to ${doc.run.endedAt}, exit code ${doc.run.exitCode}`,
              t.attempts === 0
                ? 'The scenario has no attempts: this run is no evidence of isolation.'
                : 'Only the attempts this file reports as passed held; the run is no evidence for the others.',
            ].join('\n'),
          },
        },
      ],
    },
  ];
}

/** The run's wall time, run.startedAt to run.endedAt, in seconds. */
function wallSeconds(doc: ResultsDocument): number {
  const ms = Date.parse(doc.run.endedAt) - Date.parse(doc.run.startedAt);
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

function userSuites(
  records: readonly SuiteTestRecord[],
  timestamp: string,
  props: [string, string][],
  options: RunJUnitOptions,
): JUnitTestSuite[] {
  const names = [...new Set(records.map((r) => r.suite))];
  return names.map((name) => ({
    name: `suite.${name}`,
    timestamp,
    properties: props,
    testcases: records
      .filter((r) => r.suite === name)
      .map((r): JUnitTestCase => {
        const base = {
          name: r.fullTitle,
          classname: `suite.${name.replace(/[^\w-]+/g, '-')}`,
          time: r.durationMs / 1000,
          ...(r.file ? { file: shownPath(r.file, options.relativeTo) } : {}),
        };
        if (r.state === 'pending') return { ...base, skipped: { message: 'pending' } };
        if (r.state === 'failed' && r.error) {
          // An assertion that did not hold is a failure; anything else thrown is a fault in the suite.
          const isAssertion = r.error.name === 'AssertionError';
          const outcome = {
            message: r.error.message,
            type: r.error.name,
            text: r.error.stack ?? r.error.message,
          };
          return isAssertion ? { ...base, failure: outcome } : { ...base, error: outcome };
        }
        return base;
      }),
  }));
}

export function runJUnit(
  doc: ResultsDocument,
  records: readonly SuiteTestRecord[] = [],
  options: RunJUnitOptions = {},
): string {
  const props = runProperties(doc);
  const categories = CATEGORIES.filter((c) => doc.attempts.some((a) => a.category === c));
  // The root's time is the run's wall time: the sum of the testcases' times counts concurrent
  // attempts once each and exceeds it.
  return renderJUnit({
    name: `bulkhead run ${doc.method.scenario.name} ${doc.run.id}`,
    time: wallSeconds(doc),
    suites: [
      ...completenessSuite(doc, props, options),
      ...categories.map((category) => ({
        name: `bulkhead.${category}`,
        timestamp: doc.run.startedAt,
        properties: props,
        testcases: doc.attempts
          .filter((a) => a.category === category)
          .map((a) => attemptTestCase(a, options, doc.run)),
      })),
      ...userSuites(records, doc.run.startedAt, props, options),
    ],
  });
}
