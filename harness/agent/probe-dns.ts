/**
 * One DNS attempt: a single query of one type, asked of the pod's resolvers or of a given server.
 * The name is asked exactly as written (no search list), so `echo.acme` and
 * `echo.acme.svc.cluster.local` are different questions.
 */
import type { Resolver } from 'node:dns/promises';

import type { DnsItem } from './batch.js';
import { dns } from './builtins.js';
import { classifyDnsFailure } from './classify.js';
import { Clock, DeadlineExceeded, errorFacts, within } from './clock.js';
import { hostPort, type HostLookup, ipFamily } from './lookup.js';
import { errorEvidence, type ProbeResult } from './result.js';

export async function probeDns(item: DnsItem, lookupHost: HostLookup): Promise<ProbeResult> {
  const clock = new Clock();
  const { name, type } = item.query;
  // c-ares counts its own timeout per try; one try, as long as the whole deadline.
  const resolver = new (dns().Resolver)({ timeout: Math.max(1, Math.floor(item.timeoutMs)), tries: 1 });
  let server = resolver.getServers().join(', ') || 'the pod resolver';
  if (item.dnsServer !== undefined) {
    const [host, port] = splitServer(item.dnsServer);
    try {
      const address = ipFamily(host)
        ? host
        : (await within(lookupHost(host, clock.remaining(item.timeoutMs)), clock.remaining(item.timeoutMs)))
            .address;
      server = hostPort(address, port);
      resolver.setServers([server]);
    } catch (error) {
      // The server to ask could not be found or named: the question was never asked.
      return {
        id: item.id,
        kind: 'dns',
        outcome: 'error',
        reason: `the DNS server "${item.dnsServer}" could not be used`,
        evidence: {
          target: `${type} ${name}`,
          elapsedMs: clock.elapsed(),
          ...errorEvidence(errorFacts(error)),
        },
      };
    }
  }
  try {
    const records = await within(query(resolver, name, type), clock.remaining(item.timeoutMs));
    return {
      id: item.id,
      kind: 'dns',
      outcome: 'resolved',
      reason: `${type} ${name} resolved to ${records.length} record${records.length === 1 ? '' : 's'}`,
      evidence: { target: `${type} ${name}`, elapsedMs: clock.elapsed(), dns: { server, records } },
    };
  } catch (error) {
    const deadline = error instanceof DeadlineExceeded;
    if (deadline) resolver.cancel();
    const facts = errorFacts(error);
    return {
      id: item.id,
      kind: 'dns',
      ...classifyDnsFailure(facts.code, deadline, item.timeoutMs),
      evidence: {
        target: `${type} ${name}`,
        elapsedMs: clock.elapsed(),
        dns: { server },
        ...errorEvidence(facts),
      },
    };
  }
}

async function query(resolver: Resolver, name: string, type: DnsItem['query']['type']): Promise<unknown[]> {
  switch (type) {
    case 'A':
      return resolver.resolve4(name);
    case 'AAAA':
      return resolver.resolve6(name);
    case 'SRV':
      // The same fields on every Node version (newer ones add a `type`).
      return (await resolver.resolveSrv(name)).map(({ name: target, port, priority, weight }) => ({
        name: target,
        port,
        priority,
        weight,
      }));
    case 'PTR':
      // An address is asked in its reverse form; an in-addr.arpa/ip6.arpa name as written.
      return ipFamily(name) ? resolver.reverse(name) : resolver.resolvePtr(name);
  }
}

/** `host:port`, `[v6]:port`, `host` or a bare IPv6 address → host and port (default 53). */
export function splitServer(text: string): [string, number] {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed?.[1]) return [bracketed[1], Number(bracketed[2] ?? 53)];
  if (ipFamily(text) === 6) return [text, 53];
  const colon = text.lastIndexOf(':');
  return colon < 0 ? [text, 53] : [text.slice(0, colon), Number(text.slice(colon + 1))];
}
