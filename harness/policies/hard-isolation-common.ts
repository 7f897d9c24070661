/**
 * What the two halves of `builtin: hard-isolation` share: the render context, object metadata and
 * the scenario look-ups. The sidecar-mode layers are in hard-isolation.ts, their ambient
 * equivalents in hard-isolation-ambient.ts.
 */
import type { Namespace, Scenario, Workload } from '../scenario/types.js';
import type { RenderOptions } from './options.js';

export const HARD_ISOLATION = 'hard-isolation';

export type Obj = Record<string, unknown>;

export interface Context {
  readonly scenario: Scenario;
  readonly tenants: readonly Namespace[];
  readonly shared: readonly Namespace[];
  readonly root: string;
  readonly istiod: string;
  readonly apiServer: NonNullable<RenderOptions['apiServer']>;
  readonly dns: NonNullable<RenderOptions['dns']>;
  readonly tier: NonNullable<RenderOptions['tier']>;
  readonly allowEgress: NonNullable<RenderOptions['allowEgress']>;
  readonly clusterPolicy: NonNullable<RenderOptions['clusterPolicy']>;
}

export function meta(
  name: string,
  namespace: string | undefined,
  implementsClaim: string,
  annotations: Readonly<Record<string, string>> = {},
): Obj {
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    labels: { 'app.kubernetes.io/managed-by': 'bulkhead', 'bulkhead.dev/bundle': HARD_ISOLATION },
    annotations: { 'bulkhead.dev/implements': implementsClaim, ...annotations },
  };
}

export function workloadsIn(ctx: Context, ns: string): Workload[] {
  return ctx.scenario.workloads.filter((w) => w.namespace === ns);
}

export function find(ctx: Context, ns: string, name: string): Workload | undefined {
  return ctx.scenario.workloads.find((w) => w.namespace === ns && w.name === name);
}

export function nsSelector(name: string): Obj {
  return { matchLabels: { 'kubernetes.io/metadata.name': name } };
}

export function portsOf(w: Workload): Obj[] {
  return w.ports.map((p) => ({ protocol: p.protocol, port: p.port }));
}
