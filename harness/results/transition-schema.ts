/**
 * What the probe stream saw through one transition of an upgrade check (the istiod rollout, the
 * sidecar restarts: harness/upgrade/stream.ts): one shape for the `transition` record of the
 * results.jsonl of the phase the transition leads into, and that phase's results.json
 * `transition`. Times are ISO 8601 wall clock; every `…OffsetMs` counts from the transition's start.
 */
import { z } from 'zod';

import { OUTCOMES } from '../scenario/outcomes.js';
import { BARRIER_STATUS } from './barrier-schema.js';

export const TransitionLeak = z
  .object({
    attempt: z.string(),
    at: z.string().describe('ISO 8601: when the granting outcome was observed'),
    offsetMs: z.number().describe('From the start of the transition'),
    outcome: z.enum(OUTCOMES),
    pod: z.string().describe('`namespace/name` of the source pod'),
  })
  .describe('A must-deny attempt seen granted while the transition ran');

export const TransitionGap = z
  .object({
    attempt: z.string(),
    from: z.string().describe('ISO 8601: the last success before the failures (or the start of the stream)'),
    to: z.string().describe('ISO 8601: the first success after them (or the end of the stream)'),
    startOffsetMs: z.number(),
    gapMs: z.number(),
    failures: z.number().int().min(1).describe('Consecutive failed observations (errors are not counted)'),
    closed: z.boolean().describe('False when the stream ended before the attempt succeeded again'),
  })
  .describe('A must-allow attempt without success for longer than the threshold');

export const TransitionAttempt = z.object({
  id: z.string(),
  from: z.string(),
  to: z.string().describe('The destination as dialled: `ns/name:port`, a query, an API request'),
  mustDeny: z.boolean().describe('True: must-deny (a granting outcome is a leak); false: must-allow'),
  observed: z.number().int().describe('Observations other than errors'),
  granted: z.number().int(),
  errors: z.number().int().describe('Probe or exec failures: neither a deny nor a disruption'),
  maxGapMs: z.number().optional().describe('Must-allow: the longest time without success around failures'),
  longestFailures: z.number().int().optional().describe('Must-allow: the most consecutive failures'),
});

export const TransitionPart = z
  .object({
    name: z.string().describe('`control-plane` (the istiod rollout) or `restart` (the sidecars)'),
    title: z.string(),
    startedAt: z.string().describe('ISO 8601: the transition began'),
    endedAt: z
      .string()
      .describe('ISO 8601: the stream stopped (the transition completed and the barrier passed)'),
    durationMs: z.number(),
    completed: z.boolean().describe('False when the transition failed or was interrupted'),
    barrier: z.object({
      status: z.enum(BARRIER_STATUS),
      reasoning: z.string(),
      ms: z.number().optional(),
    }),
    method: z.object({
      ratePerSecond: z.number().describe('Batches per second per source pod'),
      disruptionThresholdMs: z.number(),
      maxBatch: z.number().int().describe('Attempts per batch at most; more rotate'),
      rule: z.string(),
    }),
    sources: z.array(
      z.object({
        source: z.string(),
        batches: z.number().int(),
        ratePerSecond: z.number().describe('Achieved'),
      }),
    ),
    attempts: z.array(TransitionAttempt),
    leaks: z.array(TransitionLeak),
    /** More leaks than are listed (the list is capped). */
    leakCount: z.number().int(),
    disruptions: z.array(TransitionGap),
    errors: z.number().int(),
    /** Attempts sent before the transition began (the sessions' warm-up): not judged. */
    before: z.number().int(),
    timeline: z
      .object({
        bucketMs: z.number().int(),
        buckets: z.array(
          z.object({
            held: z.number().int(),
            leaks: z.number().int(),
            failures: z.number().int(),
            errors: z.number().int(),
          }),
        ),
      })
      .describe('Counts per time bucket from the start: held, leaks, must-allow failures, errors'),
  })
  .describe('The probe stream through the transition into this upgrade-check phase');

export type TransitionPart = z.infer<typeof TransitionPart>;
export type TransitionLeak = z.infer<typeof TransitionLeak>;
export type TransitionGap = z.infer<typeof TransitionGap>;
export type TransitionAttempt = z.infer<typeof TransitionAttempt>;
