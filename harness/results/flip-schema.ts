/**
 * The shape of a flip in results.jsonl and results.json: an attempt whose prediction the cluster's
 * own policy objects change (harness/model/cluster-flips.ts computes them).
 */
import { z } from 'zod';

/** An attempt whose prediction the cluster's own policies change (harness/model/cluster-flips.ts). */
export const ClusterFlip = z.object({
  attempt: z.string(),
  /** The expectation as written (`auto` takes the prediction). */
  expect: z.string(),
  /** The prediction of the policies the run applied, alone. */
  alone: z.string(),
  /** The prediction with the cluster's own objects added: what the run judges `auto` by. */
  predicted: z.string(),
  /** The cluster objects that decided (`cluster:Kind/namespace/name`). */
  decidedBy: z.array(z.string()),
  /** The reasons naming them: tier, priority or order, and rule. */
  reasons: z.array(z.string()),
});

/** An attempt's prediction with Calico's staged policies enforced (harness/model/staged.ts), where it differs. */
export const WouldChange = z.object({
  outcome: z.string(),
  /** The reasons of that prediction: the staged policies that decided are among them. */
  reasons: z.array(z.string()),
});
