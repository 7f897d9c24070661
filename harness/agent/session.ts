/**
 * `bulkhead-agent session`: the probe kept running for a whole run, so a round costs no exec and
 * no Node start. Batches arrive on stdin, one JSON line each; they run one after another, each
 * exactly as `probe` runs its batch (same classification, same concurrency bound, a fresh name
 * cache per batch). The protocol, one JSON object per line both ways:
 *
 *   in:  {"batch":"<id>","attempts":[<attempt>, ...]}
 *   out: {"batch":"<id>","id":"<attempt id>","kind",...,"outcome","reason","evidence"}   per attempt, as it ends
 *        {"batch":"<id>","end":true,"attempts":N,"outcomes":{...},"elapsedMs":..,"peakRssBytes":..}
 *
 * The end line closes every batch, also one that could not be read at all: it then carries
 * `"problem"` and `attempts: 0` (and `batch: null` when not even the id could be read). When
 * stdin ends the session runs what it was given and exits 0.
 */
import type { Readable } from 'node:stream';

import { batchOf } from './batch.js';
import { stringDecoder } from './builtins.js';
import { runBatch } from './probe.js';
import { isRecord } from '../values.js';

export interface SessionOptions {
  /** Attempts in flight at once within a batch. Default the probe's. */
  readonly concurrency?: number;
  /** Receives each output line, newline included. */
  readonly write: (line: string) => void;
}

/** The end-of-batch line. */
export interface BatchEnd {
  readonly batch: string | null;
  readonly end: true;
  readonly attempts: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  readonly peakRssBytes?: number;
  /** Why nothing of the batch ran: its line was not a batch. */
  readonly problem?: string;
}

/** Runs batch after batch from `input` until it ends. */
export async function runSession(input: Readable, options: SessionOptions): Promise<void> {
  const decoder = new (stringDecoder().StringDecoder)('utf8');
  let rest = '';
  for await (const chunk of input) {
    const lines = (rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer))).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') await sessionBatch(line, options);
  }
  rest += decoder.end();
  if (rest.trim() !== '') await sessionBatch(rest, options);
}

/** Runs one batch line; always ends with its end line. */
export async function sessionBatch(line: string, options: SessionOptions): Promise<void> {
  const refuse = (batch: string | null, problem: string) => {
    const end: BatchEnd = { batch, end: true, attempts: 0, outcomes: {}, elapsedMs: 0, problem };
    options.write(JSON.stringify(end) + '\n');
  };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    refuse(null, `the batch line is not JSON: ${(error as Error).message}`);
    return;
  }
  const batch = isRecord(value) && typeof value.batch === 'string' && value.batch !== '' ? value.batch : null;
  if (!isRecord(value) || batch === null) {
    refuse(null, 'a batch line must be an object {"batch": "<id>", "attempts": [...]}');
    return;
  }
  if (!Array.isArray(value.attempts)) {
    refuse(batch, 'attempts: must be a JSON array of attempts');
    return;
  }
  // Each result line as the probe writes it, tagged with the batch first.
  const tag = `{"batch":${JSON.stringify(batch)},`;
  const summary = await runBatch(batchOf(value.attempts as unknown[]), {
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    write: (result) => {
      options.write(tag + result.slice(1));
    },
  });
  const end: BatchEnd = {
    batch,
    end: true,
    attempts: summary.attempts,
    outcomes: summary.outcomes,
    elapsedMs: summary.elapsedMs,
    peakRssBytes: summary.peakRssBytes,
  };
  options.write(JSON.stringify(end) + '\n');
}
