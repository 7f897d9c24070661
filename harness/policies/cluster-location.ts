/**
 * How a policy object read from a cluster is located in predictions: `cluster:Kind/namespace/name`
 * (the manifest's file; its line is 1), so a reason that cites it names the object, and the
 * objects that decided an outcome can be read back out of the reasons. No Kubernetes client here:
 * `plan` and the reports use it without one.
 */

/** Where a cluster object is reported: `cluster:Kind/namespace/name`. */
export function clusterLocation(o: {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}): string {
  const md = o.metadata ?? {};
  return `cluster:${o.kind ?? '?'}/${md.namespace ? `${md.namespace}/` : ''}${md.name ?? '?'}`;
}

/** The cluster objects (`cluster:Kind/namespace/name`) a prediction's reasons name, each once, in order. */
export function foreignObjects(reasons: readonly string[]): string[] {
  const found = reasons.flatMap((r) => [...r.matchAll(/cluster:[A-Za-z]+\/[^\s\]():,]+/g)].map((m) => m[0]));
  return [...new Set(found)];
}

/** The reasons that cite a cluster object: the tier, priority and rule of each that decided. */
export function foreignReasons(reasons: readonly string[]): string[] {
  return reasons.filter((r) => foreignObjects([r]).length > 0);
}
