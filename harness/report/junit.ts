/**
 * JUnit XML, the format CI systems render test results from (Jenkins, GitLab, GitHub Actions
 * reporters). Data in, text out: `testsuites` > `testsuite` > `testcase` with `failure`, `error`
 * or `skipped`, properties per suite and per test case, and `system-out`/`system-err`.
 * Counts (tests, failures, errors, skipped) and total times are computed from the cases.
 */

export interface JUnitOutcome {
  /** One line, shown by CI next to the test name. */
  readonly message: string;
  /** Classifier, e.g. the rule id or the observed outcome. */
  readonly type?: string;
  /** Details: evidence, a stack of reasons. */
  readonly text?: string;
}

export interface JUnitTestCase {
  readonly name: string;
  /** Groups test cases in most CI views (a file, a namespace, a category). */
  readonly classname: string;
  /** Seconds. */
  readonly time?: number;
  readonly file?: string;
  readonly line?: number;
  /** Ordered name/value pairs; names may repeat (JUnit allows it). */
  readonly properties?: readonly (readonly [string, string])[];
  /** At most one of failure, error, skipped: failure = an expectation did not hold; error = it could not be judged. */
  readonly failure?: JUnitOutcome;
  readonly error?: JUnitOutcome;
  readonly skipped?: { readonly message?: string };
  readonly systemOut?: string;
  readonly systemErr?: string;
}

export interface JUnitTestSuite {
  readonly name: string;
  /** ISO 8601 start time. */
  readonly timestamp?: string;
  readonly hostname?: string;
  readonly properties?: readonly (readonly [string, string])[];
  readonly testcases: readonly JUnitTestCase[];
  readonly systemOut?: string;
  readonly systemErr?: string;
}

export interface JUnitReport {
  readonly name?: string;
  readonly suites: readonly JUnitTestSuite[];
  /**
   * The root's `time` in seconds, given by the caller (a run's wall time: the cases' times of
   * concurrent attempts add up to more). Never read from a clock here. @default the sum of the cases' times
   */
  readonly time?: number;
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  time: number;
}

function count(cases: readonly JUnitTestCase[]): Counts {
  const c: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0, time: 0 };
  for (const t of cases) {
    c.tests++;
    if (t.failure) c.failures++;
    else if (t.error) c.errors++;
    else if (t.skipped) c.skipped++;
    c.time += t.time ?? 0;
  }
  return c;
}

// XML 1.0 allows tab, newline, carriage return and these ranges; anything else is dropped.
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Text or attribute value, escaped and stripped of characters XML cannot carry. */
export function xmlEscape(text: string): string {
  return text
    .replace(INVALID_XML, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function attrs(pairs: readonly (readonly [string, string | number | undefined])[]): string {
  return pairs
    .filter((p): p is readonly [string, string | number] => p[1] !== undefined)
    .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
    .join('');
}

const seconds = (t: number) => t.toFixed(3);

function properties(list: readonly (readonly [string, string])[] | undefined, indent: string): string[] {
  if (!list || list.length === 0) return [];
  return [
    `${indent}<properties>`,
    ...list.map(
      ([name, value]) =>
        `${indent}  <property${attrs([
          ['name', name],
          ['value', value],
        ])}/>`,
    ),
    `${indent}</properties>`,
  ];
}

function textElement(tag: string, text: string | undefined, indent: string): string[] {
  return text === undefined ? [] : [`${indent}<${tag}>${xmlEscape(text)}</${tag}>`];
}

function outcome(tag: 'failure' | 'error', o: JUnitOutcome, indent: string): string {
  const head = `${indent}<${tag}${attrs([
    ['message', o.message],
    ['type', o.type],
  ])}`;
  return o.text === undefined ? `${head}/>` : `${head}>${xmlEscape(o.text)}</${tag}>`;
}

function testcase(t: JUnitTestCase): string[] {
  const head = `    <testcase${attrs([
    ['name', t.name],
    ['classname', t.classname],
    ['time', seconds(t.time ?? 0)],
    ['file', t.file],
    ['line', t.line],
  ])}`;
  const body = [
    ...properties(t.properties, '      '),
    ...(t.failure ? [outcome('failure', t.failure, '      ')] : []),
    ...(!t.failure && t.error ? [outcome('error', t.error, '      ')] : []),
    ...(!t.failure && !t.error && t.skipped
      ? [`      <skipped${attrs([['message', t.skipped.message]])}/>`]
      : []),
    ...textElement('system-out', t.systemOut, '      '),
    ...textElement('system-err', t.systemErr, '      '),
  ];
  return body.length === 0 ? [`${head}/>`] : [`${head}>`, ...body, '    </testcase>'];
}

/** The report as a JUnit XML document. */
export function renderJUnit(report: JUnitReport): string {
  const total = count(report.suites.flatMap((s) => s.testcases));
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs([
      ['name', report.name],
      ['tests', total.tests],
      ['failures', total.failures],
      ['errors', total.errors],
      ['skipped', total.skipped],
      ['time', seconds(report.time ?? total.time)],
    ])}>`,
  ];
  report.suites.forEach((s, id) => {
    const c = count(s.testcases);
    lines.push(
      `  <testsuite${attrs([
        ['name', s.name],
        ['id', id],
        ['tests', c.tests],
        ['failures', c.failures],
        ['errors', c.errors],
        ['skipped', c.skipped],
        ['time', seconds(c.time)],
        ['timestamp', s.timestamp],
        ['hostname', s.hostname],
      ])}>`,
      ...properties(s.properties, '    '),
      ...s.testcases.flatMap(testcase),
      ...textElement('system-out', s.systemOut, '    '),
      ...textElement('system-err', s.systemErr, '    '),
      '  </testsuite>',
    );
  });
  lines.push('</testsuites>');
  return lines.join('\n') + '\n';
}
