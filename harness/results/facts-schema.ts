/**
 * What a run read about the cluster, each fact with its source and reasoning
 * (harness/run/cluster-facts.ts): one shape for the `facts` record of results.jsonl and for
 * results.json's `method.clusterFacts`. DNS and deadlines keep every field the run recorded
 * (the mesh's retryOn, the margin), so the report shows the whole reasoning.
 */
import { z } from 'zod';

export const ApiServerFact = z.object({
  value: z.object({ cidrs: z.array(z.string()), port: z.number() }).nullable(),
  source: z.string(),
  reasoning: z.string(),
});

export const DnsFact = z.looseObject({ status: z.string(), reasoning: z.string() });

export const DeadlinesFact = z.looseObject({
  formula: z.string(),
  source: z.string(),
  reasoning: z.string(),
  scenarioDefaultMs: z.number(),
  derivedMs: z.number().optional(),
  connectTimeoutMs: z.number().optional(),
  retries: z.number().optional(),
  lengthened: z.number().int(),
  keptExplicit: z.number().int(),
});
