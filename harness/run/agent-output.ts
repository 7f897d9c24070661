/** Reading the agent's result lines: one JSON object per line, checked before it is believed. */
import { z } from 'zod';

import { OUTCOMES, type Outcome } from '../scenario/outcomes.js';

const ResultLine = z.object({
  id: z.string(),
  outcome: z.enum(OUTCOMES),
  reason: z.string().optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
});

export interface AgentResult {
  readonly id: string;
  readonly outcome: Outcome;
  readonly reason?: string;
  readonly evidence: Readonly<Record<string, unknown>>;
}

/** Splits a byte stream into complete lines; the tail waits for the next chunk. */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.filter((l) => l.trim() !== '');
  }

  /** What is left when the stream ends: an unterminated last line, if any. */
  flush(): string[] {
    const rest = this.rest.trim();
    this.rest = '';
    return rest ? [rest] : [];
  }
}

/** A parsed result, or why the line is not one (the caller records that as `error`). */
export function parseResultLine(line: string): AgentResult | { malformed: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { malformed: `not JSON: ${line.slice(0, 200)}` };
  }
  const parsed = ResultLine.safeParse(value);
  if (!parsed.success)
    return {
      malformed: `not a result line (${parsed.error.issues[0]?.message ?? 'invalid'}): ${line.slice(0, 200)}`,
    };
  const { id, outcome, reason, evidence } = parsed.data;
  return { id, outcome, ...(reason === undefined ? {} : { reason }), evidence: evidence ?? {} };
}

const EndLine = z.object({
  batch: z.string().nullable(),
  end: z.literal(true),
  attempts: z.number().int().nonnegative(),
  outcomes: z.record(z.string(), z.number()).optional(),
  elapsedMs: z.number().optional(),
  peakRssBytes: z.number().optional(),
  problem: z.string().optional(),
});

/** The end-of-batch line of an agent session (harness/agent/session.ts). */
export interface BatchEndLine {
  /** null when the agent could not read the batch's id. */
  readonly batch: string | null;
  readonly attempts: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly elapsedMs?: number;
  readonly peakRssBytes?: number;
  /** Why the agent ran none of the batch. */
  readonly problem?: string;
}

export type SessionLine =
  | { readonly kind: 'result'; readonly batch: string; readonly result: AgentResult }
  | { readonly kind: 'end'; readonly end: BatchEndLine }
  | { readonly kind: 'malformed'; readonly malformed: string };

/** A line of an agent session: a result tagged with its batch, a batch's end, or neither. */
export function parseSessionLine(line: string): SessionLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'malformed', malformed: `not JSON: ${line.slice(0, 200)}` };
  }
  const batch = (value as { batch?: unknown } | null)?.batch;
  if ((value as { end?: unknown } | null)?.end === true) {
    const parsed = EndLine.safeParse(value);
    if (!parsed.success)
      return {
        kind: 'malformed',
        malformed: `not an end-of-batch line (${parsed.error.issues[0]?.message ?? 'invalid'}): ${line.slice(0, 200)}`,
      };
    const { attempts, outcomes, elapsedMs, peakRssBytes, problem } = parsed.data;
    return {
      kind: 'end',
      end: {
        batch: parsed.data.batch,
        attempts,
        outcomes: outcomes ?? {},
        ...(elapsedMs === undefined ? {} : { elapsedMs }),
        ...(peakRssBytes === undefined ? {} : { peakRssBytes }),
        ...(problem === undefined ? {} : { problem }),
      },
    };
  }
  if (typeof batch !== 'string')
    return { kind: 'malformed', malformed: `a session line without its batch: ${line.slice(0, 200)}` };
  const result = parseResultLine(line);
  return 'malformed' in result
    ? { kind: 'malformed', malformed: result.malformed }
    : { kind: 'result', batch, result };
}
