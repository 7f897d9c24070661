/** Lint findings as a terminal table, JSON, JUnit XML or SARIF 2.1.0. */
import { renderJUnit, type JUnitTestCase } from './junit.js';
import { renderSarif, type SarifLevel } from './sarif.js';
import type { Manifest } from '../scenario/types.js';
import { refOf } from '../policies/objects.js';
import { RULES } from '../lint/index.js';
import { SEVERITIES, severityRank, type Finding, type Severity } from '../lint/types.js';

export const FORMATS = ['table', 'json', 'junit', 'sarif'] as const;
export type Format = (typeof FORMATS)[number];

export function objectText(o: Finding['object']): string {
  return `${o.kind} ${o.namespace === undefined ? '' : `${o.namespace}/`}${o.name}`;
}

function location(f: Pick<Finding, 'file' | 'line' | 'column'>): string {
  return f.line > 0 ? `${f.file}:${f.line}:${f.column}` : f.file;
}

/** "2 errors, 1 warning" */
export function tally(findings: readonly Finding[]): string {
  const parts = SEVERITIES.map((s) => {
    const n = findings.filter((f) => f.severity === s).length;
    return n === 0 ? '' : `${n} ${s}${n === 1 ? '' : 's'}`;
  }).filter(Boolean);
  return parts.length === 0 ? 'no findings' : parts.join(', ');
}

/** One block per finding: where, severity, rule, object; then the message and the fix. */
export function formatTable(findings: readonly Finding[], objects: number, failOn: Severity): string {
  const width = (get: (f: Finding) => string) => Math.max(0, ...findings.map((f) => get(f).length));
  const w1 = width(location);
  const w2 = width((f) => f.severity);
  const w3 = width((f) => f.rule);
  const blocks = findings.map(
    (f) =>
      `${location(f).padEnd(w1)}  ${f.severity.padEnd(w2)}  ${f.rule.padEnd(w3)}  ${objectText(f.object)}\n` +
      `    ${f.message}\n` +
      `    fix: ${f.hint}\n`,
  );
  const failing = findings.filter((f) => severityRank(f.severity) >= severityRank(failOn)).length;
  const summary =
    `${tally(findings)} in ${objects} object${objects === 1 ? '' : 's'}` +
    (failing > 0 ? ` (${failing} at or above --fail-on ${failOn})` : '');
  return `${blocks.join('\n')}${blocks.length > 0 ? '\n' : ''}${summary}\n`;
}

/** `{"findings": [{rule, severity, message, object: {kind, namespace, name}, file, line, column, hint}]}` */
export function formatJson(findings: readonly Finding[]): string {
  return (
    JSON.stringify(
      {
        findings: findings.map((f) => ({
          rule: f.rule,
          severity: f.severity,
          message: f.message,
          object: { kind: f.object.kind, namespace: f.object.namespace ?? null, name: f.object.name },
          file: f.file,
          line: f.line,
          column: f.column,
          hint: f.hint,
        })),
      },
      null,
      2,
    ) + '\n'
  );
}

function findingLine(f: Finding): string {
  return `${f.severity} ${f.rule} at ${location(f)}: ${f.message}\n  fix: ${f.hint}`;
}

/** One test case per linted object (and per scenario object a finding names); it fails on findings at or above `failOn`. */
export function formatJUnit(
  findings: readonly Finding[],
  manifests: readonly Manifest[],
  failOn: Severity,
): string {
  interface Case {
    readonly name: string;
    readonly file: string;
    readonly line: number;
    readonly findings: Finding[];
  }
  const cases = new Map<string, Case>();
  const key = (o: Finding['object'], file: string) => `${file}\u0000${objectText(o)}`;
  for (const m of manifests) {
    const ref = refOf(m);
    const k = key(ref, m.file);
    if (!cases.has(k)) cases.set(k, { name: objectText(ref), file: m.file, line: m.line, findings: [] });
  }
  for (const f of findings) {
    const k = key(f.object, f.file);
    const c = cases.get(k) ?? { name: objectText(f.object), file: f.file, line: f.line, findings: [] };
    c.findings.push(f);
    cases.set(k, c);
  }
  const testcases: JUnitTestCase[] = [...cases.values()].map((c) => {
    const failing = c.findings.filter((f) => severityRank(f.severity) >= severityRank(failOn));
    const other = c.findings.filter((f) => !failing.includes(f));
    const first = failing[0];
    return {
      name: c.name,
      classname: c.file,
      file: c.file,
      line: c.line,
      properties: c.findings.map((f) => [f.rule, `${f.severity} ${location(f)}`] as const),
      ...(first
        ? {
            failure: {
              message:
                failing.length === 1 ? first.message : `${first.message} (and ${failing.length - 1} more)`,
              type: first.rule,
              text: failing.map(findingLine).join('\n'),
            },
          }
        : {}),
      ...(other.length > 0 ? { systemOut: other.map(findingLine).join('\n') } : {}),
    };
  });
  return renderJUnit({
    name: 'bulkhead lint',
    suites: [
      {
        name: 'bulkhead lint',
        properties: [['fail-on', failOn]],
        testcases,
      },
    ],
  });
}

const LEVEL: Record<Severity, SarifLevel> = { error: 'error', warning: 'warning', info: 'note' };

export function formatSarif(findings: readonly Finding[], version: string): string {
  return renderSarif({
    tool: {
      name: 'bulkhead',
      version,
      rules: RULES.map((r) => ({
        id: r.id,
        summary: r.summary,
        help: r.help,
        defaultLevel: LEVEL[r.severity],
      })),
    },
    results: findings.map((f) => ({
      ruleId: f.rule,
      level: LEVEL[f.severity],
      message: `${objectText(f.object)}: ${f.message} Fix: ${f.hint}`,
      file: f.file,
      line: f.line,
      column: f.column,
      properties: { hint: f.hint, object: f.object },
    })),
  });
}
