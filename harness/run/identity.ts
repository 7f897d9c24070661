/**
 * What marks an object as bulkhead's, and as one run's. On a cluster bulkhead does not own it
 * creates only what carries these labels and deletes only what carries its own run id.
 */
import { randomBytes } from 'node:crypto';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'bulkhead';
export const RUN_LABEL = 'bulkhead.dev/run';
export const SCENARIO_LABEL = 'bulkhead.dev/scenario';

/** `20261124-130501-7f3a`: sortable by start time, unique enough, a valid label value. */
export function newRunId(
  now: Date = new Date(),
  random: () => string = () => randomBytes(2).toString('hex'),
): string {
  const iso = now.toISOString(); // 2026-11-24T13:05:01.123Z
  const stamp = `${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`;
  return `${stamp}-${random()}`;
}

export function runLabels(runId: string, scenario: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [RUN_LABEL]: runId, [SCENARIO_LABEL]: scenario };
}

/** Selects exactly one run's objects. */
export function runSelector(runId: string): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${RUN_LABEL}=${runId}`;
}

/** True when an existing object is bulkhead's to change (it carries the managed-by label). */
export function isManaged(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
}
