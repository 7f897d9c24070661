/**
 * Name resolution for targets, done before dialling so that a name that does not resolve is
 * told apart from a connect that times out (the first is a probe failure, the second a drop).
 *
 * Names are looked up with DNS queries to the pod's resolvers (A, then AAAA), as written, with
 * no search list, after /etc/hosts. Not getaddrinfo: its lookups cannot be cancelled, so a
 * dropped path to CoreDNS would hold the probe open long after every deadline, and with the
 * cluster's `ndots:5` it would first ask every search domain. Service names in batches are fully
 * qualified (`<name>.<ns>.svc.<clusterDomain>`), so the search list is not needed.
 */
import type { Resolver } from 'node:dns/promises';

import { dns, fs, net } from './builtins.js';

export interface Resolved {
  readonly address: string;
  readonly family: 4 | 6;
}

export interface HostLookup {
  /** Resolves a name or passes an address through; `timeoutMs` bounds the DNS exchange. */
  (host: string, timeoutMs: number): Promise<Resolved>;
  /**
   * The answer when it is known without waiting (an address, a hosts-file name, a name this
   * batch already resolved), so that most attempts need no promise and no timer to get it.
   */
  now(host: string): Resolved | undefined;
  /** Cancels lookups still in flight (their attempts have already ended). */
  close(): void;
}

/**
 * 4 or 6 for an IP address, 0 otherwise, as `net.isIP`. Text without a colon is never IPv6, and
 * skipping `isIPv6` for it spares each agent process the compile of Node's long IPv6 pattern
 * (about a tenth of a session's start-up CPU when /etc/hosts was read with `isIP`).
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (text.includes(':')) return net().isIPv6(text) ? 6 : 0;
  return net().isIPv4(text) ? 4 : 0;
}

/**
 * A lookup shared by a whole batch: many attempts dial the same Service, and one answer per
 * name per batch is both enough and kinder to CoreDNS. The hosts file is read at the first
 * name that is not an address.
 */
export function batchLookup(
  hostsFile = '/etc/hosts',
  /** The resolvers to ask; default the pod's (/etc/resolv.conf). */
  servers?: readonly string[],
): HostLookup {
  let hosts: Map<string, Resolved> | undefined;
  const cache = new Map<string, Promise<Resolved>>();
  const answered = new Map<string, Resolved>();
  const resolvers = new Set<Resolver>();
  const now = (host: string): Resolved | undefined => {
    const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const family = ipFamily(literal);
    if (family !== 0) return { address: literal, family };
    hosts ??= readHosts(hostsFile);
    return hosts.get(host.toLowerCase()) ?? answered.get(host);
  };
  const lookup = (host: string, timeoutMs: number): Promise<Resolved> => {
    const known = now(host);
    if (known) return Promise.resolve(known);
    let answer = cache.get(host);
    if (!answer) {
      const resolver = new (dns().Resolver)({ timeout: Math.max(50, Math.floor(timeoutMs / 2)), tries: 2 });
      if (servers) resolver.setServers(servers);
      resolvers.add(resolver);
      answer = query(resolver, host).finally(() => resolvers.delete(resolver));
      answer.then(
        (resolved) => answered.set(host, resolved),
        () => undefined,
      );
      cache.set(host, answer);
    }
    return answer;
  };
  return Object.assign(lookup, {
    now,
    close: () => {
      for (const resolver of resolvers) resolver.cancel();
    },
  });
}

async function query(resolver: Resolver, host: string): Promise<Resolved> {
  try {
    const [address] = await resolver.resolve4(host);
    if (address) return { address, family: 4 };
  } catch (error) {
    // No A record: the name may still have AAAA. Anything else (NXDOMAIN, timeout) is final.
    if ((error as { code?: unknown }).code !== 'ENODATA') throw error;
  }
  const [address] = await resolver.resolve6(host);
  if (!address) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENODATA' });
  return { address, family: 6 };
}

/** Names from a hosts file (`localhost`, the pod's own name), first address per name. */
function readHosts(file: string): Map<string, Resolved> {
  const names = new Map<string, Resolved>([['localhost', { address: '127.0.0.1', family: 4 }]]);
  let text: string;
  try {
    text = fs().readFileSync(file, 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const [address = '', ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
    const family = ipFamily(address);
    if (family !== 4 && family !== 6) continue;
    for (const alias of aliases) {
      const name = alias.toLowerCase();
      if (!names.has(name) || (names.get(name)?.family === 6 && family === 4))
        names.set(name, { address, family });
    }
  }
  return names;
}

/** `host:port` as it goes into a Host header or a message, IPv6 addresses bracketed. */
export function hostPort(host: string, port: number): string {
  return ipFamily(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
