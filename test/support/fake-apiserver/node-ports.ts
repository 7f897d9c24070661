/**
 * Node ports as the API server's Service registry handles them, for the fake:
 *
 * - a Service of type NodePort or LoadBalancer gets a node port for every port that names none,
 *   at creation, from the node port range (30000-32767, the `--service-node-port-range` default);
 *   a node port is unique across the cluster, and asking for one already allocated, or one
 *   outside the range, is refused. Sources: Kubernetes blog 2023-05-11, "Kubernetes 1.27: Avoid
 *   Collisions Assigning Ports to NodePort Services"; the refusals' texts as the API server words
 *   them (`spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`,
 *   `... provided port is not in the valid range. The range of valid ports is 30000-32767`).
 * - an update (an apply that names no node port again) keeps the node port the port had, matched
 *   by port name, as the registry patches allocated values from the old object into the new one;
 * - a ClusterIP Service may not name a node port (`Forbidden: may not be used when `type` is
 *   'ClusterIP'`), except one it held as a NodePort Service, which is dropped with the type.
 *
 * Simplification: a free node port is picked at random from the whole range (the real allocator
 * prefers the range's upper band when it allocates itself).
 */
import { randomInt } from 'node:crypto';

export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

interface ServicePort {
  name?: string;
  port?: number;
  protocol?: string;
  nodePort?: number;
  [key: string]: unknown;
}

interface ServiceSpec {
  type?: string;
  ports?: ServicePort[];
  [key: string]: unknown;
}

function needsNodePorts(spec: ServiceSpec | undefined): boolean {
  return spec?.type === 'NodePort' || spec?.type === 'LoadBalancer';
}

/**
 * The spec to store, with node ports allocated, or the field errors the API server answers with.
 * @param inUse node ports held by every other Service of the cluster.
 */
export function allocateNodePorts(
  spec: ServiceSpec | undefined,
  previous: ServiceSpec | undefined,
  inUse: ReadonlySet<number>,
): { spec: ServiceSpec | undefined } | { errors: string[] } {
  if (!spec) return { spec };
  const ports = (spec.ports ?? []).map((p) => ({ ...p }));
  const errors: string[] = [];
  if (!needsNodePorts(spec)) {
    const held = new Set(needsNodePorts(previous) ? (previous?.ports ?? []).map((p) => p.nodePort) : []);
    ports.forEach((p, i) => {
      if (p.nodePort === undefined) return;
      if (held.has(p.nodePort)) delete p.nodePort;
      else
        errors.push(
          `spec.ports[${i}].nodePort: Forbidden: may not be used when \`type\` is '${spec.type ?? 'ClusterIP'}'`,
        );
    });
    return errors.length > 0 ? { errors } : { spec: { ...spec, ports } };
  }
  if (needsNodePorts(previous)) {
    const byName = new Map((previous?.ports ?? []).map((p) => [p.name ?? '', p.nodePort]));
    const named = new Set(ports.map((p) => p.nodePort).filter((n) => n !== undefined));
    for (const p of ports) {
      const old = byName.get(p.name ?? '');
      if (p.nodePort === undefined && old !== undefined && !named.has(old)) p.nodePort = old;
    }
  }
  const taken = new Set(inUse);
  const mine = new Map<string, number>();
  ports.forEach((p, i) => {
    if (p.nodePort === undefined) return;
    const n = p.nodePort;
    if (!Number.isInteger(n) || n < NODE_PORT_MIN || n > NODE_PORT_MAX) {
      errors.push(
        `spec.ports[${i}].nodePort: Invalid value: ${String(n)}: provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`,
      );
    } else if (taken.has(n)) {
      errors.push(`spec.ports[${i}].nodePort: Invalid value: ${n}: provided port is already allocated`);
    } else if (mine.has(`${n}/${p.protocol ?? 'TCP'}`)) {
      errors.push(`spec.ports[${i}].nodePort: Duplicate value: ${n}`);
    }
    mine.set(`${n}/${p.protocol ?? 'TCP'}`, n);
  });
  if (errors.length > 0) return { errors };
  for (const n of mine.values()) taken.add(n);
  for (const p of ports) {
    if (p.nodePort !== undefined) continue;
    if (taken.size >= NODE_PORT_MAX - NODE_PORT_MIN + 1)
      return { errors: ['failed to allocate a nodePort: range is full'] };
    let n: number;
    do n = randomInt(NODE_PORT_MIN, NODE_PORT_MAX + 1);
    while (taken.has(n));
    taken.add(n);
    p.nodePort = n;
  }
  return { spec: { ...spec, ports } };
}

/** The node ports a stored Service holds. */
export function nodePortsOf(spec: ServiceSpec | undefined): number[] {
  if (!needsNodePorts(spec)) return [];
  return (spec?.ports ?? []).map((p) => p.nodePort).filter((n): n is number => typeof n === 'number');
}
