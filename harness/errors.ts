/**
 * Errors that are the user's to fix. The CLI prints them without a stack trace and exits 2
 * (README "Exit codes"); anything else escaping a command is a harness fault.
 */

/** One problem in an input file, located as precisely as the input allows. */
export interface Problem {
  readonly file: string;
  /** 1-based; 0 when the problem concerns the file as a whole. */
  readonly line: number;
  /** 1-based; 0 when unknown. */
  readonly column: number;
  /** The field, as a path into the document: `spec.workloads[2].namespace`. Empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** Base class for mistakes in what the user gave bulkhead: exit code 2, no stack trace. */
export class UserError extends Error {
  override readonly name: string = 'UserError';
  /** 2 for bad input; a subclass reporting a judged failure (lint findings, say) overrides it with 1. */
  readonly exitCode: number = 2;
}

/**
 * A fault of the environment bulkhead works in, not of its input and not a bug: the API server
 * unreachable or refusing bulkhead's credentials, a command failing, a wait running out, a
 * cluster that does not hold what bulkhead applied. The CLI prints the one-sentence message and
 * what to check, without a stack trace, and exits 2: nothing was judged.
 */
export class EnvironmentError extends Error {
  override readonly name: string = 'EnvironmentError';
  readonly exitCode: number = 2;
  /** What the user should check or do, one sentence. */
  readonly hint: string | undefined;

  constructor(message: string, options: { readonly hint?: string; readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

/** One or more problems found in input files, reported together. */
export class InputError extends UserError {
  override readonly name = 'InputError';
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], summary?: string) {
    const first = problems[0];
    super(
      summary ??
        (problems.length === 1 && first ? formatProblem(first) : `${problems.length} problems in the input`),
    );
    this.problems = problems;
  }
}

/** "Did you mean …?" for a mistyped name: the closest candidate within a small edit distance. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  // At most one edit in four characters: close enough to be a typo, not merely another name.
  let bestDistance = Math.max(1, Math.floor(word.length / 4)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
