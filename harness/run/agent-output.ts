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
