/** The lookup step every dialling attempt starts with; a name that does not resolve ends it as `error`. */
import type { HttpItem, StreamItem } from './batch.js';
import { classifyFailure } from './classify.js';
import { type Clock, DeadlineExceeded, errorFacts, within } from './clock.js';
import type { HostLookup, Resolved } from './lookup.js';
import { errorEvidence, type ProbeResult } from './result.js';

export async function resolveTarget(
  item: HttpItem | StreamItem,
  target: string,
  lookupHost: HostLookup,
  clock: Clock,
): Promise<Resolved | ProbeResult> {
  // Most attempts dial an address or a name the batch already resolved: no race, no timer.
  const known = lookupHost.now(item.host);
  if (known) return known;
  try {
    const left = clock.remaining(item.timeoutMs);
    return await within(lookupHost(item.host, left), left);
  } catch (error) {
    const facts = errorFacts(error);
    const deadline = error instanceof DeadlineExceeded;
    return {
      id: item.id,
      kind: item.kind,
      ...classifyFailure({ phase: 'lookup', deadline, timeoutMs: item.timeoutMs, ...facts }),
      evidence: { target, phase: 'lookup', elapsedMs: clock.elapsed(), ...errorEvidence(facts) },
    };
  }
}

export function isResult(value: Resolved | ProbeResult): value is ProbeResult {
  return 'outcome' in value;
}
