/**
 * A DNS server on loopback that answers like CoreDNS does for a small cluster zone (docs/behaviour.md O10,
 * §A5): A, AAAA, SRV and PTR records, NXDOMAIN for names that do not exist, NOERROR without
 * records for a type a name lacks, REFUSED for a name an ACL blocks, and silence for a name whose
 * queries are dropped. Written from RFC 1035's wire format.
 */
import dgram from 'node:dgram';

type DnsRecord =
  | { readonly type: 'A'; readonly address: string }
  | { readonly type: 'AAAA'; readonly address: string }
  | {
      readonly type: 'SRV';
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    }
  | { readonly type: 'PTR'; readonly target: string };

const TYPE_CODES = { A: 1, PTR: 12, AAAA: 28, SRV: 33 } as const;
const RCODE = { noError: 0, nxDomain: 3, refused: 5 } as const;

export interface DnsZone {
  readonly records: Readonly<{ [name: string]: readonly DnsRecord[] }>;
  /** Names answered REFUSED, as CoreDNS's acl plugin blocks them. */
  readonly refused: readonly string[];
  /** Names never answered, as if the query were dropped. */
  readonly silent: readonly string[];
}

export const CLUSTER_ZONE: DnsZone = {
  records: {
    'echo.acme.svc.cluster.local': [
      { type: 'A', address: '10.96.0.10' },
      { type: 'AAAA', address: 'fd00::10' },
    ],
    'only-v4.acme.svc.cluster.local': [{ type: 'A', address: '10.96.0.11' }],
    '_http._tcp.echo.acme.svc.cluster.local': [
      { type: 'SRV', priority: 0, weight: 100, port: 8080, target: 'echo.acme.svc.cluster.local' },
    ],
    '10.0.96.10.in-addr.arpa': [{ type: 'PTR', target: 'echo.acme.svc.cluster.local' }],
  },
  refused: ['blocked.globex.svc.cluster.local'],
  silent: ['dropped.globex.svc.cluster.local'],
};

export interface RunningDns {
  readonly port: number;
  /** Questions received, as `TYPE name`. */
  readonly questions: string[];
  close(): Promise<void>;
}

export async function startDnsServer(
  zone: DnsZone = CLUSTER_ZONE,
  listen: { readonly host: string; readonly port: number } = { host: '127.0.0.1', port: 0 },
): Promise<RunningDns> {
  const socket = dgram.createSocket('udp4');
  const questions: string[] = [];
  socket.on('message', (query, from) => {
    const question = readQuestion(query);
    if (!question) return;
    const typeName = (Object.keys(TYPE_CODES) as (keyof typeof TYPE_CODES)[]).find(
      (t) => TYPE_CODES[t] === question.type,
    );
    questions.push(`${typeName ?? question.type} ${question.name}`);
    const name = question.name.toLowerCase();
    if (zone.silent.includes(name)) return;
    const known = zone.records[name];
    const rcode = zone.refused.includes(name) ? RCODE.refused : known ? RCODE.noError : RCODE.nxDomain;
    const answers = (known ?? []).filter((r) => TYPE_CODES[r.type] === question.type);
    socket.send(response(query, question.end, rcode, answers), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(listen.port, listen.host, resolve));
  return {
    port: socket.address().port,
    questions,
    close: () =>
      new Promise<void>((resolve) =>
        socket.close(() => {
          resolve();
        }),
      ),
  };
}

function readQuestion(query: Buffer): { name: string; type: number; end: number } | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = query[offset];
    if (length === undefined) return undefined;
    offset++;
    if (length === 0) break;
    labels.push(query.subarray(offset, offset + length).toString('latin1'));
    offset += length;
  }
  if (offset + 4 > query.length) return undefined;
  return { name: labels.join('.'), type: query.readUInt16BE(offset), end: offset + 4 };
}

function response(query: Buffer, questionEnd: number, rcode: number, answers: readonly DnsRecord[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, authoritative, recursion desired copied from the query, recursion available, rcode.
  const rd = query.readUInt16BE(2) & 0x0100;
  header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers.map(answer)]);
}

function answer(record: DnsRecord): Buffer {
  const data = rdata(record);
  const fixed = Buffer.alloc(12);
  fixed.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  fixed.writeUInt16BE(TYPE_CODES[record.type], 2);
  fixed.writeUInt16BE(1, 4); // class IN
  fixed.writeUInt32BE(30, 6); // TTL, as kubeadm's Corefile sets it
  fixed.writeUInt16BE(data.length, 10);
  return Buffer.concat([fixed, data]);
}

function rdata(record: DnsRecord): Buffer {
  switch (record.type) {
    case 'A':
      return Buffer.from(record.address.split('.').map(Number));
    case 'AAAA':
      return ipv6(record.address);
    case 'SRV': {
      const head = Buffer.alloc(6);
      head.writeUInt16BE(record.priority, 0);
      head.writeUInt16BE(record.weight, 2);
      head.writeUInt16BE(record.port, 4);
      return Buffer.concat([head, encodeName(record.target)]);
    }
    case 'PTR':
      return encodeName(record.target);
  }
}

function encodeName(name: string): Buffer {
  const parts = name
    .split('.')
    .filter(Boolean)
    .map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

function ipv6(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
