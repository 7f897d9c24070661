/**
 * Name resolution for targets, done before dialling so that a name that does not resolve is
 * told apart from a connect that times out (the first is a probe failure, the second a drop).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface Resolved {
  readonly address: string;
  readonly family: 4 | 6;
}

export type HostLookup = (host: string) => Promise<Resolved>;

/**
 * A lookup through the system resolver (search list, /etc/hosts), shared by a whole batch: many
 * attempts dial the same Service, and one answer per name per batch is both enough and kinder to
 * CoreDNS. Addresses pass through untouched.
 */
export function batchLookup(): HostLookup {
  const cache = new Map<string, Promise<Resolved>>();
  return (host) => {
    const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const family = isIP(literal);
    if (family === 4 || family === 6) return Promise.resolve({ address: literal, family });
    let answer = cache.get(host);
    if (!answer) {
      answer = lookup(host).then(({ address, family: f }) => ({ address, family: f === 6 ? 6 : 4 }));
      cache.set(host, answer);
    }
    return answer;
  };
}

/** `host:port` as it goes into a Host header or a message, IPv6 addresses bracketed. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
