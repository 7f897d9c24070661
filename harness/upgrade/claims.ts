/**
 * What a phase claims to be, checked against what the istiods said (observed.ts): a phase is
 * called "mixed" only when it was.
 *
 * - In place: every sidecar of the run still runs `from` and is served by an istiod of `to`.
 * - Revision: some workloads were moved to the new revision and others stayed, so the phase has
 *   sidecars served by the old control plane and sidecars served by the new one, and at least one
 *   attempt goes from one to the other (a cross-revision attempt: the path users live on while a
 *   canary upgrade is half done).
 *
 * Data in, data out; a claim that does not hold is a fault of the phase (it did not measure what
 * its title says), never a pass.
 */
import type { ResultsDocument } from '../results/results-model.js';
import type { UpgradeMethod } from './methods.js';
import type { ObservedVersions, PodProxy } from './observed.js';

export interface PhaseClaim {
  /** `mixed` (the only claim checked so far). */
  readonly claim: 'mixed';
  readonly verified: boolean;
  /** What was verified, or why the claim does not hold. */
  readonly detail: string;
  /** Revision method: the ids of the attempts whose source and destination are served by different istiod revisions. */
  readonly crossRevision?: readonly string[];
}

const sidecars = (v: ObservedVersions) => v.pods.filter((p) => p.proxy !== 'none');

function servedText(p: PodProxy): string {
  return p.servedBy ? `${p.servedBy.version ?? 'unknown'} (${p.servedBy.revision})` : 'no istiod';
}

function counts(values: readonly string[]): string {
  const n = new Map<string, number>();
  for (const v of values) n.set(v, (n.get(v) ?? 0) + 1);
  return [...n].map(([v, k]) => `${String(k)} served by ${v}`).join(', ');
}

/** The ids of the attempts between sidecars served by different istiod revisions. */
export function crossRevisionAttempts(v: ObservedVersions, document: ResultsDocument): string[] {
  const revisionsOf = (namespace: string, workload: string) =>
    new Set(
      sidecars(v)
        .filter((p) => p.pod.startsWith(`${namespace}/`) && p.workload === workload && p.servedBy)
        .map((p) => p.servedBy?.revision ?? ''),
    );
  return document.attempts
    .filter((a) => {
      if (!a.to) return false;
      const from = revisionsOf(a.from.namespace, a.from.name);
      const to = revisionsOf(a.to.namespace, a.to.name);
      return [...from].some((r) => [...to].some((t) => t !== r));
    })
    .map((a) => a.id);
}

export interface MixedProps {
  readonly method: UpgradeMethod;
  readonly from: string;
  readonly to: string;
  readonly observed: ObservedVersions;
  readonly document: ResultsDocument;
}

export function verifyMixed(props: MixedProps): PhaseClaim {
  const { observed: v } = props;
  const claim = 'mixed' as const;
  if (v.servingError)
    return {
      claim,
      verified: false,
      detail: `the istiods could not be asked which proxies they serve (${v.servingError})`,
    };
  const proxies = sidecars(v);
  if (proxies.length === 0) return { claim, verified: false, detail: 'the run has no sidecars' };
  const unserved = proxies.filter((p) => !p.servedBy);
  if (unserved.length > 0)
    return {
      claim,
      verified: false,
      detail: `no istiod lists the sidecar of ${unserved.map((p) => p.pod).join(', ')}`,
    };
  if (props.method === 'in-place') {
    const wrong = proxies.filter((p) => p.proxy !== props.from || p.servedBy?.version !== props.to);
    if (wrong.length > 0)
      return {
        claim,
        verified: false,
        detail: `not every sidecar is ${props.from} served by istiod ${props.to}: ${wrong
          .map((p) => `${p.pod} is ${p.proxy} served by ${servedText(p)}`)
          .join('; ')}`,
      };
    return {
      claim,
      verified: true,
      detail: `${String(proxies.length)} sidecars at ${props.from}, each served by istiod ${props.to}`,
    };
  }
  const old = proxies.filter((p) => p.servedBy?.version === props.from);
  const moved = proxies.filter((p) => p.servedBy?.version === props.to);
  const cross = crossRevisionAttempts(v, props.document);
  const served = counts(proxies.map(servedText));
  if (old.length === 0 || moved.length === 0)
    return {
      claim,
      verified: false,
      detail: `the sidecars are not on both control planes (${served})`,
      crossRevision: cross,
    };
  if (cross.length === 0)
    return {
      claim,
      verified: false,
      detail: `no attempt goes between the two control planes (${served})`,
      crossRevision: cross,
    };
  return {
    claim,
    verified: true,
    detail: `sidecars on both control planes (${served}); ${String(cross.length)} cross-revision attempt${cross.length === 1 ? '' : 's'}`,
    crossRevision: cross,
  };
}
