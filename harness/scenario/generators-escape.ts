/**
 * Generators for escape attempts beyond tenant-to-tenant: a tenant's pods to the node they run
 * on (its own ports, and the node ports of other tenants' NodePort Services), to the cloud's
 * metadata service, to addresses outside the cluster, and to other tenants'
 * pods by IP. Ids are built from names and addresses as written, so they are stable across runs
 * even though the node and pod addresses and the node ports are only read at run time.
 */
import { dialAddress } from '../address.js';
import { METADATA_IPV4, METADATA_IPV6 } from './address-target.js';
import { dataPlaneOf } from './dataplane.js';
import { crossPath, type Gateway, type GatewayRoute } from './gateways.js';
import type { ExpectWord } from './outcomes.js';
import { expectation } from './outcomes.js';
import type { HttpRequest, RawGenerator } from './schema.js';
import { refText, type AddressTarget, type Attempt, type Port, type Workload } from './types.js';

export type EscapeGenerator = Extract<
  RawGenerator,
  { kind: 'node' | 'metadata' | 'egress' | 'pod-ip' | 'gateway' }
>;
export type EscapeKind = EscapeGenerator['kind'];

export const ESCAPE_KINDS: readonly EscapeKind[] = ['node', 'metadata', 'egress', 'pod-ip', 'gateway'];

export function isEscapeGenerator(g: RawGenerator): g is EscapeGenerator {
  return (ESCAPE_KINDS as readonly string[]).includes(g.kind);
}

/** What the scenario's built-in bundle lets tenants reach outside the cluster (`allowEgress`). */
export interface EgressAllowance {
  readonly cidr: string;
  readonly ports?: readonly number[];
}

export interface EscapeContext {
  readonly workloads: readonly Workload[];
  readonly tenantOf: (w: Workload) => string | undefined;
  readonly allowEgress: readonly EgressAllowance[];
  /** The scenario's ingress gateways (`spec.gateways`). @default [] */
  readonly gateways?: readonly Gateway[];
}

type Common = Pick<Attempt, 'id' | 'expect' | 'timeoutMs' | 'explicitTimeout' | 'origin'>;

export interface EscapeDraft {
  readonly id: string;
  readonly kind: 'http' | 'tcp';
  readonly category: 'node' | 'metadata' | 'egress' | 'pod-ip' | 'gateway';
  readonly build: (common: Common) => Attempt;
}

/** The destinations an egress generator dials: its `to` entries, or the internet stand-in. */
function egressTargets(
  gen: Extract<EscapeGenerator, { kind: 'egress' }>,
): { name: string; target: AddressTarget }[] {
  if (!gen.to) return [{ name: 'internet', target: { kind: 'internet' } }];
  return gen.to.map((text) => {
    const address = dialAddress(text) ?? text;
    const cidr = text.includes('/') ? { cidr: text } : {};
    return { name: text, target: { kind: 'address', address, ...cidr } };
  });
}

/** How many attempts {@link escapeDrafts} makes, without building them. */
export function escapeCount(gen: EscapeGenerator, sources: readonly Workload[], ctx: EscapeContext): number {
  switch (gen.kind) {
    case 'node': {
      let count = sources.length * gen.ports.length;
      if (gen.nodePorts) for (const src of sources) count += nodePortTargets(src, ctx).length;
      return count;
    }
    case 'metadata':
      return sources.length * (gen.ipv6 ? 2 : 1);
    case 'egress':
      return sources.length * (gen.to?.length ?? 1);
    case 'pod-ip': {
      let count = 0;
      for (const src of sources) {
        for (const dst of otherTenants(src, ctx)) count += tcpPorts(dst).length;
      }
      return count;
    }
    case 'gateway': {
      let count = 0;
      for (const g of chosenGateways(gen, ctx)) {
        for (const src of gatewaySources(g, sources, ctx)) {
          const own = ownRoutes(g, src, ctx).length;
          count += own * ((gen.controls ? 1 : 0) + crossBackends(g, src, ctx).length);
        }
      }
      return count;
    }
  }
}

/** The gateways a gateway generator tries: those it names, else every one. */
export function chosenGateways(
  gen: Extract<EscapeGenerator, { kind: 'gateway' }>,
  ctx: EscapeContext,
): Gateway[] {
  const all = ctx.gateways ?? [];
  if (!gen.gateways) return [...all];
  return all.filter((g) => gen.gateways?.includes(`${g.namespace}/${g.name}`));
}

/**
 * Sources that can try a gateway: tenant workloads out of the mesh whose tenant has a route on
 * it. A client sidecar routes an HTTP request by its Host header, and a tenant's hostname names no
 * Service of the mesh; what Envoy then does with it is not in the facts, so those are left out.
 */
function gatewaySources(g: Gateway, sources: readonly Workload[], ctx: EscapeContext): Workload[] {
  return sources.filter((s) => dataPlaneOf(s) === 'none' && ownRoutes(g, s, ctx).length > 0);
}

function ownRoutes(g: Gateway, src: Workload, ctx: EscapeContext): GatewayRoute[] {
  const tenant = ctx.tenantOf(src);
  return tenant === undefined ? [] : g.routes.filter((r) => r.tenant === tenant);
}

/** Other tenants' routed backends (each backend and port once), in declaration order. */
function crossBackends(g: Gateway, src: Workload, ctx: EscapeContext): GatewayRoute[] {
  const tenant = ctx.tenantOf(src);
  const seen = new Set<string>();
  return g.routes.filter((r) => {
    const key = `${refText(r.backend)}:${r.port.port}`;
    if (r.tenant === tenant || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function otherTenants(src: Workload, ctx: EscapeContext): Workload[] {
  const own = ctx.tenantOf(src);
  return ctx.workloads.filter(
    (w) => w.ports.length > 0 && ctx.tenantOf(w) !== undefined && ctx.tenantOf(w) !== own,
  );
}

function tcpPorts(w: Workload): Port[] {
  return w.ports.filter((p) => p.protocol === 'TCP');
}

/** Other tenants' workloads with a NodePort Service, with each TCP port it exposes. */
function nodePortTargets(src: Workload, ctx: EscapeContext): { dst: Workload; port: Port }[] {
  return otherTenants(src, ctx)
    .filter((w) => w.nodePort)
    .flatMap((dst) => tcpPorts(dst).map((port) => ({ dst, port })));
}

export function escapeDrafts(
  gen: EscapeGenerator,
  sources: readonly Workload[],
  ctx: EscapeContext,
): EscapeDraft[] {
  const drafts: EscapeDraft[] = [];
  switch (gen.kind) {
    case 'node':
      for (const src of sources) {
        for (const port of gen.ports) {
          drafts.push(
            draft(`node:${refText(src)}->node:${port}`, 'node', src, { kind: 'node' }, port, 'tcp'),
          );
        }
        if (!gen.nodePorts) continue;
        // The node port of another tenant's Service: the attempt's port is the Service port it
        // maps to; the node port itself is read at run time.
        for (const { dst, port } of nodePortTargets(src, ctx)) {
          const target: AddressTarget = {
            kind: 'node-port',
            workload: { namespace: dst.namespace, name: dst.name },
          };
          drafts.push(
            draft(
              `node:${refText(src)}->node-port:${refText(dst)}:${port.port}`,
              'node',
              src,
              target,
              port,
              'tcp',
            ),
          );
        }
      }
      break;
    case 'metadata':
      for (const src of sources) {
        for (const address of gen.ipv6 ? [METADATA_IPV4, METADATA_IPV6] : [METADATA_IPV4]) {
          const shown = address.includes(':') ? `[${address}]` : address;
          drafts.push(
            draft(
              `metadata:${refText(src)}->${shown}:80`,
              'metadata',
              src,
              { kind: 'address', address },
              80,
              'http',
              gen.http,
            ),
          );
        }
      }
      break;
    case 'egress':
      for (const src of sources) {
        for (const { name, target } of egressTargets(gen)) {
          const d = draft(
            `egress:${refText(src)}->${name}:${gen.port}`,
            'egress',
            src,
            target,
            gen.port,
            gen.as,
            gen.http,
          );
          drafts.push(
            allowedBy(ctx.allowEgress, name, gen.port) && gen.expect === undefined
              ? withExpect(d, ['allowed'])
              : d,
          );
        }
      }
      break;
    case 'pod-ip':
      for (const src of sources) {
        for (const dst of otherTenants(src, ctx)) {
          for (const port of tcpPorts(dst)) {
            const target: AddressTarget = {
              kind: 'pod-ip',
              workload: { namespace: dst.namespace, name: dst.name },
            };
            drafts.push(
              draft(
                `pod-ip:${refText(src)}->${refText(dst)}:${port.port}`,
                'pod-ip',
                src,
                target,
                port,
                gen.as,
                gen.http,
              ),
            );
          }
        }
      }
      break;
    case 'gateway':
      for (const g of chosenGateways(gen, ctx)) {
        const gateway = { namespace: g.namespace, name: g.name };
        for (const src of gatewaySources(g, sources, ctx)) {
          for (const own of ownRoutes(g, src, ctx)) {
            const toward = (r: GatewayRoute) => ({
              kind: 'gateway' as const,
              gateway,
              hostname: own.hostname,
              routeNamespace: own.backend.namespace,
              backend: r.backend,
              backendPort: r.port.port,
            });
            const http = (path: string): HttpRequest => ({
              method: 'GET',
              path,
              headers: { host: own.hostname },
            });
            const at = `gateway:${refText(src)}->${refText(gateway)}:${own.hostname}`;
            if (gen.controls) {
              drafts.push(
                withExpect(draft(at, 'gateway', src, toward(own), g.port, 'http', http('/')), ['allowed']),
              );
            }
            for (const other of crossBackends(g, src, ctx)) {
              drafts.push(
                draft(
                  `${at}/to/${refText(other.backend)}:${other.port.port}`,
                  'gateway',
                  src,
                  toward(other),
                  g.port,
                  'http',
                  http(crossPath(other.backend)),
                ),
              );
            }
          }
        }
      }
      break;
  }
  return drafts;
}

/** Whether the bundle's allowEgress names this destination (as written) and lets the port through. */
export function allowedBy(
  allowances: readonly EgressAllowance[],
  destination: string,
  port: number,
): boolean {
  return allowances.some((a) => a.cidr === destination && (a.ports === undefined || a.ports.includes(port)));
}

function withExpect(d: EscapeDraft, words: ExpectWord[]): EscapeDraft {
  return { ...d, build: (c) => ({ ...d.build(c), expect: expectation(words) }) };
}

function draft(
  id: string,
  category: EscapeDraft['category'],
  src: Workload,
  target: AddressTarget,
  port: number | Port,
  kind: 'http' | 'tcp',
  http: HttpRequest = { method: 'GET', path: '/', headers: {} },
): EscapeDraft {
  const p: Port = typeof port === 'number' ? { port, protocol: 'TCP' } : port;
  const from = { namespace: src.namespace, name: src.name };
  return {
    id,
    kind,
    category,
    build: (c) =>
      kind === 'http'
        ? { ...c, kind, category, from, target, port: p, http }
        : { ...c, kind, category, from, target, port: p },
  };
}
