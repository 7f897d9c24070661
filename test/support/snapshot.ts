/**
 * Snapshot tests: output compared with a file committed next to the test, readable in review.
 * After an intended change, `npm run test:update-snapshots` (BULKHEAD_UPDATE_SNAPSHOTS=1) rewrites
 * the files; review the diff and commit them. A snapshot that does not exist yet is written on a
 * developer's machine (and says so), but fails in CI (CI=true), where writing it would make the test
 * pass without comparing anything; CI refuses to rewrite snapshots for the same reason.
 *
 * A test file that uses this helper is listed in package.json's `test:update-snapshots`
 * (test/support/snapshot.test.ts checks that).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

export const UPDATE_COMMAND = 'npm run test:update-snapshots';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface SnapshotMode {
  /** Rewrite the snapshot with the output (BULKHEAD_UPDATE_SNAPSHOTS=1). */
  readonly update: boolean;
  /** Running in CI (CI set, and not `false` or `0`): never write a snapshot. */
  readonly ci: boolean;
}

export function snapshotMode(env: NodeJS.ProcessEnv = process.env): SnapshotMode {
  const ci = env.CI !== undefined && !['', '0', 'false'].includes(env.CI.toLowerCase());
  return { update: env.BULKHEAD_UPDATE_SNAPSHOTS === '1', ci };
}

/**
 * Passes when `actual` equals the snapshot file's text; otherwise fails with the file, a diff
 * (`-` the snapshot, `+` the output) and the command that updates it.
 */
export async function matchSnapshot(
  actual: string,
  file: string | URL,
  mode: SnapshotMode = snapshotMode(),
): Promise<void> {
  const filePath = file instanceof URL ? fileURLToPath(file) : file;
  const relative = path.relative(REPO_ROOT, filePath);
  const name = relative.startsWith('..') || path.isAbsolute(relative) ? filePath : relative;
  if (mode.update) {
    if (mode.ci) {
      expect.fail(
        `snapshot ${name}: BULKHEAD_UPDATE_SNAPSHOTS=1 in CI; snapshots are updated locally and committed`,
      );
    }
    await write(filePath, actual);
    return;
  }
  let expected: string;
  try {
    expected = await readFile(filePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (mode.ci) {
      expect.fail(
        `snapshot ${name} does not exist; create it with ${UPDATE_COMMAND}, review it and commit it`,
      );
    }
    await write(filePath, actual);
    console.warn(`snapshot ${name} did not exist and was written: review it and commit it`);
    return;
  }
  if (actual === expected) return;
  expect.fail(
    `snapshot ${name} differs from the output (- snapshot, + output):\n${diff(expected, actual)}\n` +
      `If the change is intended, run ${UPDATE_COMMAND}, review the diff and commit the snapshot.`,
  );
}

async function write(filePath: string, text: string): Promise<void> {
  await mkdir(path.dirname(filePath), { recursive: true });
  await writeFile(filePath, text);
}

const CONTEXT = 3;
const MAX_LINES = 60;
/** Above this many cells the middle is shown as removed and added whole (no alignment). */
const MAX_CELLS = 4_000_000;

type Op = readonly [' ' | '-' | '+', string];

/** A line diff in hunks with a few lines of context, `@@ -line +line @@` as in `diff -u`. */
export function diff(expected: string, actual: string): string {
  if (expected === actual) return '(no difference)';
  if (expected.replace(/\n$/, '') === actual.replace(/\n$/, '')) {
    return expected.endsWith('\n')
      ? '(only the final newline: the snapshot ends with one, the output does not)'
      : '(only the final newline: the output ends with one, the snapshot does not)';
  }
  // Both end with a newline (the usual case): no empty last line to show as context.
  const lines = (text: string) =>
    (expected.endsWith('\n') && actual.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
  const ops = align(lines(expected), lines(actual));
  const changed = ops.flatMap((op, i) => (op[0] === ' ' ? [] : [i]));
  const hunks: [number, number][] = [];
  for (const i of changed) {
    const last = hunks.at(-1);
    if (last && i - last[1] <= 2 * CONTEXT) last[1] = i;
    else hunks.push([i, i]);
  }
  const out: string[] = [];
  let shown = 0;
  for (const [from, to] of hunks) {
    const start = Math.max(0, from - CONTEXT);
    const end = Math.min(ops.length - 1, to + CONTEXT);
    const before = ops.slice(0, start);
    const eLine = before.filter((op) => op[0] !== '+').length + 1;
    const aLine = before.filter((op) => op[0] !== '-').length + 1;
    out.push(`@@ -${eLine} +${aLine} @@`);
    for (const [sign, line] of ops.slice(start, end + 1)) {
      if (shown === MAX_LINES) {
        out.push(`... (${changed.length} changed lines in all)`);
        return out.join('\n');
      }
      out.push(`${sign} ${line}`);
      shown++;
    }
  }
  return out.join('\n');
}

/** Expected and actual lines aligned on their longest common subsequence. */
function align(e: readonly string[], a: readonly string[]): Op[] {
  let head = 0;
  while (head < e.length && head < a.length && e[head] === a[head]) head++;
  let tail = 0;
  while (
    tail < e.length - head &&
    tail < a.length - head &&
    e[e.length - 1 - tail] === a[a.length - 1 - tail]
  ) {
    tail++;
  }
  const em = e.slice(head, e.length - tail);
  const am = a.slice(head, a.length - tail);
  const same = (lines: readonly string[]): Op[] => lines.map((l) => [' ', l] as const);
  let middle: Op[];
  if (em.length * am.length > MAX_CELLS) {
    middle = [...em.map((l) => ['-', l] as const), ...am.map((l) => ['+', l] as const)];
  } else {
    // lcs[i][j]: the longest common subsequence of em[i..] and am[j..].
    const lcs = Array.from({ length: em.length + 1 }, () => new Array<number>(am.length + 1).fill(0));
    for (let i = em.length - 1; i >= 0; i--) {
      for (let j = am.length - 1; j >= 0; j--) {
        const row = lcs[i] as number[];
        row[j] =
          em[i] === am[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
      }
    }
    middle = [];
    let i = 0;
    let j = 0;
    while (i < em.length || j < am.length) {
      if (i < em.length && j < am.length && em[i] === am[j]) {
        middle.push([' ', em[i] ?? '']);
        i++;
        j++;
      } else if (i < em.length && (j === am.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
        middle.push(['-', em[i] ?? '']);
        i++;
      } else {
        middle.push(['+', am[j] ?? '']);
        j++;
      }
    }
  }
  return [...same(e.slice(0, head)), ...middle, ...same(e.slice(e.length - tail))];
}
