/** What a lint rule is and what it reports. */
import type { Manifest } from '../scenario/types.js';
import type { DocPath } from '../yaml-source.js';
import { refOf, type ObjectRef } from '../policies/objects.js';
import type { LintContext } from './context.js';

export const SEVERITIES = ['error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Higher is worse: `error` 2, `warning` 1, `info` 0. */
export function severityRank(s: Severity): number {
  return 2 - SEVERITIES.indexOf(s);
}

export interface Finding {
  readonly rule: string;
  readonly severity: Severity;
  readonly message: string;
  /** How to fix it, in one sentence. */
  readonly hint: string;
  readonly object: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface Rule {
  /** Stable id, `area/what`: `authz/spiffe-principal`. */
  readonly id: string;
  /** The usual severity; a finding may be raised or lowered when the evidence is stronger or weaker. */
  readonly severity: Severity;
  /** One line: what the rule finds. */
  readonly summary: string;
  /** Why it matters, with the source of the fact. */
  readonly help: string;
  readonly check: (ctx: LintContext) => readonly Finding[];
}

/** A finding located at `path` inside a manifest. */
export function at(
  rule: Pick<Rule, 'id' | 'severity'>,
  m: Manifest,
  path: DocPath,
  message: string,
  hint: string,
  severity: Severity = rule.severity,
): Finding {
  const { line, column } = m.source.locate(path);
  const { kind, namespace, name } = refOf(m);
  return {
    rule: rule.id,
    severity,
    message,
    hint,
    object: { kind, ...(namespace === undefined ? {} : { namespace }), name },
    file: m.file,
    line,
    column,
  };
}
