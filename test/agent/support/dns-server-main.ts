/**
 * The loopback DNS server as a process of its own, so that it can answer inside a network
 * namespace: `node --import tsx dns-server-main.ts <port> '<zone JSON>'`. Prints one line when
 * it listens, and serves until SIGTERM.
 */
import { startDnsServer, type DnsZone } from './dns-server.js';

const [port = '53', zoneJson = '{}'] = process.argv.slice(2);
const zone = { records: {}, refused: [], silent: [], ...(JSON.parse(zoneJson) as Partial<DnsZone>) };
const dns = await startDnsServer(zone, { host: '0.0.0.0', port: Number(port) });
process.stderr.write(`dns listening on ${dns.port}\n`);
process.once('SIGTERM', () => {
  void dns.close();
});
