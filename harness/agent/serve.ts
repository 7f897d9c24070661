/**
 * The echo server every fixture workload runs: on each TCP port an HTTP server that answers
 * with the request as it arrived, on each UDP port a reply naming who answered. Pod identity
 * comes from the Downward API environment.
 */
import type * as dgram from 'node:dgram';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { dgram as dgramModule, http as httpModule } from './builtins.js';
import { ECHO_MARK, type EchoView } from './echo.js';
import { ipFamily } from './lookup.js';

/** Readiness is a path of its own, so a kubelet probe never looks like an attempt. */
export const READY_PATH = '/readyz';
/** How many body bytes the echo reads before it stops counting. */
const BODY_COUNT_LIMIT = 1024 * 1024;

export interface Identity {
  readonly pod: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** `POD_NAME`, `POD_NAMESPACE`, `POD_SERVICE_ACCOUNT` (Downward API); empty when unset. */
export function identityFromEnv(env: NodeJS.ProcessEnv = process.env): Identity {
  return {
    pod: env.POD_NAME ?? '',
    namespace: env.POD_NAMESPACE ?? '',
    serviceAccount: env.POD_SERVICE_ACCOUNT ?? '',
  };
}

export interface ServeOptions {
  /** HTTP echo ports; 0 picks a free port. */
  readonly tcpPorts: readonly number[];
  /** UDP echo ports; 0 picks a free port. */
  readonly udpPorts: readonly number[];
  /** Address to listen on. Default: every address (IPv4 and, where available, IPv6). */
  readonly host?: string;
  readonly identity: Identity;
}

export interface Serving {
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
  close(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const servers: http.Server[] = [];
  const sockets: dgram.Socket[] = [];
  const close = async (): Promise<void> => {
    await Promise.all([
      ...servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => {
              resolve();
            });
            s.closeAllConnections();
          }),
      ),
      ...sockets.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => {
              resolve();
            });
          }),
      ),
    ]);
  };
  try {
    const tcp: number[] = [];
    for (const port of options.tcpPorts) {
      const server = httpModule().createServer((req, res) => {
        answer(req, res, options.identity);
      });
      servers.push(server);
      tcp.push(await listen(server, port, options.host));
    }
    const udp: number[] = [];
    for (const port of options.udpPorts) {
      const socket = dgramModule().createSocket(ipFamily(options.host ?? '') === 6 ? 'udp6' : 'udp4');
      sockets.push(socket);
      udp.push(await bindUdp(socket, port, options.host, options.identity));
    }
    return { tcp, udp, close };
  } catch (error) {
    await close();
    throw error;
  }
}

function listen(server: http.Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host ? { host } : {}) }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function bindUdp(
  socket: dgram.Socket,
  port: number,
  host: string | undefined,
  id: Identity,
): Promise<number> {
  socket.on('message', (message, from) => {
    const reply = JSON.stringify({
      agent: ECHO_MARK,
      ...id,
      port: socket.address().port,
      protocol: 'udp',
      remoteAddress: from.address,
      bodyBytes: message.length,
    });
    socket.send(reply, from.port, from.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, ...(host ? { address: host } : {}) }, () => {
      socket.off('error', reject);
      // A reply that cannot be sent is the caller's loss, not a reason to stop serving.
      socket.on('error', () => undefined);
      resolve(socket.address().port);
    });
  });
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, id: Identity): void {
  const path = req.url ?? '/';
  if (path === READY_PATH) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  let bodyBytes = 0;
  req.on('data', (chunk: Buffer) => {
    bodyBytes = Math.min(BODY_COUNT_LIMIT, bodyBytes + chunk.length);
  });
  req.on('end', () => {
    const view: EchoView = {
      agent: ECHO_MARK,
      ...id,
      port: req.socket.localPort ?? 0,
      method: req.method ?? '',
      path,
      headers: receivedHeaders(req.rawHeaders),
      remoteAddress: req.socket.remoteAddress ?? '',
      bodyBytes,
    };
    const body = JSON.stringify(view);
    res
      .writeHead(statusAsked(path), {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      })
      .end(body);
  });
}

/**
 * `/status/<code>` answers with that status (and the echo body): a way to make the app itself
 * answer 403 or 503, to show such answers are the app's and not the mesh's.
 */
function statusAsked(path: string): number {
  const match = /^\/status\/([1-5]\d\d)(?:[/?]|$)/.exec(path);
  const code = match?.[1] ? Number(match[1]) : 200;
  return code >= 200 ? code : 200;
}

function receivedHeaders(raw: readonly string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    const value = raw[i + 1] ?? '';
    const seen = headers[name];
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return headers;
}
