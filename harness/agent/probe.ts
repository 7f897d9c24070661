/**
 * The probe: a batch of attempts in, one JSON line per result out, written the moment each
 * attempt ends. Attempts run concurrently up to a bound, so one slow drop does not hold up the
 * rest, and a probe killed half-way leaves every finished result behind it.
 */
import type { Readable } from 'node:stream';

import { type Batch, type BatchItem, type InvalidItem, isInvalid, parseBatch } from './batch.js';
import { errorFacts, monotonicMs } from './clock.js';
import { batchLookup, type HostLookup } from './lookup.js';
import { probeApi } from './probe-api.js';
import { probeDns } from './probe-dns.js';
import { probeHttp } from './probe-http.js';
import { probeTcp } from './probe-tcp.js';
import { probeUdp } from './probe-udp.js';
import { redact, type ProbeResult } from './result.js';

/** Attempts in flight at once by default: enough that 200 two-second drops overlap. */
export const DEFAULT_CONCURRENCY = 256;

export interface ProbeOptions {
  /** Attempts in flight at once. Default {@link DEFAULT_CONCURRENCY}. */
  readonly concurrency?: number;
  /** Receives each result line, newline included. */
  readonly write: (line: string) => void;
}

export interface ProbeSummary {
  readonly attempts: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  /** The process's peak resident set size so far, in bytes. */
  readonly peakRssBytes: number;
}

export async function readAll(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses the batch text and runs it; throws BatchError when the text is not a batch at all. */
export async function probe(text: string, options: ProbeOptions): Promise<ProbeSummary> {
  return runBatch(parseBatch(text), options);
}

export async function runBatch(batch: Batch, options: ProbeOptions): Promise<ProbeSummary> {
  const started = monotonicMs();
  const secrets = new Set<string>();
  const lookupHost = batchLookup();
  const outcomes: Record<string, number> = {};
  const entries = batch.entries;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const entry = entries[next++];
      if (entry === undefined) continue;
      const result = await settle(entry, lookupHost, secrets);
      outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
      options.write(redact(JSON.stringify(result), secrets) + '\n');
    }
  };
  const bound = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, entries.length));
  try {
    await Promise.all(Array.from({ length: bound }, worker));
  } finally {
    lookupHost.close();
  }
  return {
    attempts: entries.length,
    outcomes,
    elapsedMs: Math.round(monotonicMs() - started),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

/** Runs one entry; whatever goes wrong inside the agent becomes an `error` result, never a deny. */
async function settle(
  entry: BatchItem | InvalidItem,
  lookupHost: HostLookup,
  secrets: Set<string>,
): Promise<ProbeResult> {
  if (isInvalid(entry))
    return {
      id: entry.id,
      kind: entry.kind,
      outcome: 'error',
      reason: `the attempt is malformed: ${entry.problem}`,
      evidence: { elapsedMs: 0, problem: entry.problem },
    };
  try {
    return await run(entry, lookupHost, secrets);
  } catch (error) {
    const facts = errorFacts(error);
    return {
      id: entry.id,
      kind: entry.kind,
      outcome: 'error',
      reason: `the agent failed to make the attempt: ${facts.message}`,
      evidence: {
        elapsedMs: 0,
        errorMessage: facts.message,
        ...(facts.code ? { errorCode: facts.code } : {}),
      },
    };
  }
}

function run(item: BatchItem, lookupHost: HostLookup, secrets: Set<string>): Promise<ProbeResult> {
  switch (item.kind) {
    case 'http':
      return probeHttp(item, lookupHost);
    case 'tcp':
      return probeTcp(item, lookupHost);
    case 'udp':
      return probeUdp(item, lookupHost);
    case 'dns':
      return probeDns(item, lookupHost);
    case 'api':
      return probeApi(item, secrets);
  }
}
