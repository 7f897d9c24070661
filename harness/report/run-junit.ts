/**
 * JUnit for a run, written from the result model (results.json), not from mocha's reporters,
 * which cannot carry testcase properties, evidence or the failure/error split (anchors §4.5).
 * Shape per anchors §1.8: one `<testsuites>` root, one flat `<testsuite>` per category, unique
 * (classname, name) with no dots from addresses in classnames, `<failure>` for an expectation
 * that did not hold, `<error>` for a harness fault, `<skipped>` for what was not attempted.
 * Users' own suites (`--suite`) follow as one testsuite per top-level describe.
 */
import path from 'node:path';

import { CATEGORIES } from '../scenario/outcomes.js';
import { attemptTitle, evidenceText, verdictMessage } from '../results/describe.js';
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

export function attemptTestCase(a: AttemptEntry, options: RunJUnitOptions = {}): JUnitTestCase {
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
  ];
  const base: JUnitTestCase = {
    name: attemptTitle(a),
    // Namespaces are DNS labels: no dots, so Jenkins' package split stays `bulkhead.<category>`.
    classname: `bulkhead.${a.category}.${a.from.namespace}`,
    time: seconds(a),
    file: shownPath(a.origin.file, options.relativeTo),
    line: a.origin.line,
    properties,
    systemOut: evidenceText(a),
  };
  switch (a.verdict) {
    case 'fail':
      return {
        ...base,
        failure: { message: verdictMessage(a), type: a.leak ? 'leak' : a.outcome, text: evidenceText(a) },
      };
    case 'error':
      return { ...base, error: { message: verdictMessage(a), type: 'harness-fault', text: evidenceText(a) } };
    case 'skipped':
      return { ...base, skipped: { message: verdictMessage(a) } };
    case 'pass':
    default:
      return base;
  }
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
  return renderJUnit({
    name: `bulkhead run ${doc.method.scenario.name} ${doc.run.id}`,
    suites: [
      ...categories.map((category) => ({
        name: `bulkhead.${category}`,
        timestamp: doc.run.startedAt,
        properties: props,
        testcases: doc.attempts
          .filter((a) => a.category === category)
          .map((a) => attemptTestCase(a, options)),
      })),
      ...userSuites(records, doc.run.startedAt, props, options),
    ],
  });
}
