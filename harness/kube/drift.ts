import { isRecord } from '../values.js';
/**
 * Does the cluster hold what bulkhead applied? Compares the fields bulkhead set on an object
 * with the object as the API server returns it, leaving aside what servers legitimately add.
 *
 * The rules, and why:
 * - Every field bulkhead set must be there with the same value. Fields only the stored object
 *   has are server defaults (`clusterIP`, `dnsPolicy`, Calico's `types`) and are accepted.
 * - A zero value bulkhead set (`[]`, `{}`, `""`, `0`, `false`) equals an absent one:
 *   the API server's JSON encoding omits empty `omitempty` fields, so `ingress: []` comes back
 *   as no `ingress` at all (Go `encoding/json`, the `omitempty` option). It does not equal a
 *   stored value with content: `podSelector: {}` (every pod) narrowed by a webhook is a drift.
 * - Lists must keep their length and order: a rule a webhook appended to a policy is a drift,
 *   not a default. Where a list legitimately grows (a sidecar injector adds containers and
 *   volumes to a pod), the caller names the path in {@link DriftOptions.growingLists}; its
 *   elements are then matched by a key (`name`, or `mountPath`) and extra stored ones accepted.
 * - Numbers and strings are compared as they are: `port: 8080` never equals `port: "8080"`.
 */

export interface Drift {
  /** Where, as a field path: `spec.ingress[0].from`, `spec.containers[agent].image`. */
  readonly path: string;
  /** What bulkhead set (undefined for "absent"). */
  readonly rendered: unknown;
  /** What the server holds (undefined for "absent"). */
  readonly stored: unknown;
}

export interface DriftOptions {
  /**
   * Paths of lists that servers may extend, with the key matching their elements:
   * `{ 'spec.containers': 'name' }`. `[]` in a path stands for any element of a list
   * matched by key: `spec.containers[].volumeMounts`.
   */
  readonly growingLists?: Readonly<Record<string, string>>;
  /** Paths not compared at all (fields the server owns): `metadata.managedFields`. */
  readonly ignore?: readonly string[];
}

/** Bookkeeping the server owns; never bulkhead's to compare. */
const SERVER_OWNED = [
  'metadata.managedFields',
  'metadata.resourceVersion',
  'metadata.uid',
  'metadata.creationTimestamp',
  'metadata.generation',
  'status',
];

/** Every field of `rendered` that `stored` does not hold as rendered. Empty when they agree. */
export function driftOf(rendered: unknown, stored: unknown, options: DriftOptions = {}): Drift[] {
  const drifts: Drift[] = [];
  const ignore = new Set([...SERVER_OWNED, ...(options.ignore ?? [])]);
  const growing = options.growingLists ?? {};
  compare(rendered, stored, '', '');
  return drifts;

  /** `path` is for people (`[agent]`), `shape` for the options (`[]`). */
  function compare(want: unknown, have: unknown, path: string, shape: string): void {
    // `null` claims nothing: in an apply it leaves the field to the server (controller-gen
    // writes `creationTimestamp: null` into every CRD it generates).
    if (ignore.has(shape) || want === null) return;
    if (isZero(want)) {
      // An empty selector or list means "all" or "none": a stored value with content is a change.
      if (have !== undefined && !isZero(have)) drifts.push({ path, rendered: want, stored: have });
      return;
    }
    if (Array.isArray(want)) {
      if (!Array.isArray(have)) {
        drifts.push({ path, rendered: want, stored: have });
        return;
      }
      const key = growing[shape];
      if (key !== undefined) {
        for (const element of want as unknown[]) {
          const id = isRecord(element) ? element[key] : undefined;
          const match: unknown = (have as unknown[]).find(
            (h) => isRecord(h) && id !== undefined && h[key] === id,
          );
          const at = `${path}[${String(id)}]`;
          if (match === undefined) drifts.push({ path: at, rendered: element, stored: undefined });
          else compare(element, match, at, `${shape}[]`);
        }
        return;
      }
      if (want.length !== have.length) {
        drifts.push({ path, rendered: want, stored: have });
        return;
      }
      want.forEach((element, i) => {
        compare(element, have[i], `${path}[${i}]`, `${shape}[${i}]`);
      });
      return;
    }
    if (isRecord(want)) {
      if (!isRecord(have)) {
        drifts.push({ path, rendered: want, stored: have });
        return;
      }
      for (const [name, value] of Object.entries(want)) {
        const child = path ? `${path}.${name}` : name;
        const childShape = shape ? `${shape}.${name}` : name;
        compare(value, have[name], child, childShape);
      }
      return;
    }
    if (want !== have) drifts.push({ path, rendered: want, stored: have });
  }
}

/** `spec.ingress[0].from: rendered [...], stored absent` — one line per drift, values shortened. */
export function describeDrift(d: Drift): string {
  return `${d.path}: set ${show(d.rendered)}, stored ${show(d.stored)}`;
}

function show(value: unknown): string {
  if (value === undefined) return 'absent';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function isZero(v: unknown): boolean {
  if (v === null || v === '' || v === 0 || v === false) return true; // null: only ever stored
  if (Array.isArray(v)) return v.length === 0;
  return isRecord(v) && Object.keys(v).length === 0;
}
