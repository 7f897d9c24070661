/**
 * What a run waited on before round 1, per enforcement layer (harness/run/canary.ts for the
 * network, harness/run/mesh-barrier.ts for the mesh): one shape for the `barrier` record of
 * results.jsonl and results.json's `method.barrier`.
 */
import { z } from 'zod';

/**
 * `passed` with the time it took, `skipped` (nothing of that layer was applied, or the barrier was
 * turned off), `unavailable` (the cluster lacks what the barrier needs; `--settle` was the only
 * wait), `timed-out` (the run stopped there: nothing was attempted).
 */
export const BARRIER_STATUS = ['passed', 'skipped', 'unavailable', 'timed-out'] as const;

export const MeshBarrierPart = z.object({
  /** `not-read`: logs of versions before the mesh barrier. */
  status: z.enum([...BARRIER_STATUS, 'not-read']),
  reasoning: z.string(),
  ms: z.number().optional(),
  polls: z.number().int().optional(),
  /** The run's sidecars checked, and how many of them the run's Istio configuration concerns. */
  proxies: z.number().int().optional(),
  pushed: z.number().int().optional(),
  /** The istiod pods read (`namespace/name`), with their revision and version. */
  istiods: z
    .array(z.object({ pod: z.string(), revision: z.string(), version: z.string().optional() }))
    .optional(),
  /** On a timeout: each sidecar not in order, its state (STALE, NOT SENT, ERROR, NOT CONNECTED) and why. */
  waiting: z
    .array(
      z.object({ proxy: z.string(), state: z.string(), detail: z.string(), istiod: z.string().optional() }),
    )
    .optional(),
});
