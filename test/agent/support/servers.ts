/**
 * Local servers that behave as the things a probe meets in a cluster do, each bound to loopback
 * on a free port: Envoy's local replies, a STRICT-mTLS port, a server that closes at once, one
 * that never answers, and a port where nothing listens.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';

export const CERT = readFileSync(new URL('../fixtures/api-server.crt', import.meta.url), 'utf8');
export const KEY = readFileSync(new URL('../fixtures/api-server.key', import.meta.url), 'utf8');

export interface Running {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: () => number;
  close(): Promise<void>;
}

async function start(server: net.Server): Promise<Running> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** An HTTP server that answers every request with one reply, the way Envoy sends a local reply. */
export function replyServer(
  reply: Reply,
  seen?: (req: http.IncomingMessage) => void,
  options: { readonly chunked?: boolean } = {},
): Promise<Running> {
  const server = http.createServer((req, res) => {
    seen?.(req);
    req.resume();
    req.on('end', () => {
      res.sendDate = true;
      if (options.chunked) {
        // No length: the body goes out in chunked transfer encoding, one chunk per write.
        res.writeHead(reply.status, reply.headers);
        for (const part of reply.body.match(/.{1,5}/gs) ?? []) res.write(part);
        res.end();
        return;
      }
      res
        .writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) })
        .end(reply.body);
    });
  });
  return start(server);
}

/** Envoy's RBAC deny (docs/behaviour.md O1): 403, 19 bytes of text, `server: istio-envoy` on an inbound listener. */
export const ENVOY_RBAC_DENY: Reply = {
  status: 403,
  headers: { 'content-type': 'text/plain', server: 'istio-envoy' },
  body: 'RBAC: access denied',
};

/** Envoy's router reply when the upstream failed before headers (§A3), with the reason given. */
export function envoyUpstreamFailure(reason: string, retried = true): Reply {
  return {
    status: 503,
    headers: { 'content-type': 'text/plain', server: 'envoy' },
    body: `upstream connect error or disconnect/reset before headers. ${retried ? 'retried and the latest ' : ''}reset reason: ${reason}`,
  };
}

/**
 * A port that speaks only TLS, like a STRICT-mTLS sidecar: a client whose first bytes are not a
 * TLS handshake gets its connection reset (docs/behaviour.md O4); a TLS client gets an HTTP answer.
 */
export function tlsOnlyServer(): Promise<Running> {
  const https = tls.createServer({ cert: CERT, key: KEY }, (socket) => {
    socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
  });
  const server = net.createServer((socket) => {
    socket.once('data', (first: Buffer) => {
      // 0x16 opens a TLS handshake record; anything else is a plaintext peer.
      if (first[0] !== 0x16) {
        socket.resetAndDestroy();
        return;
      }
      socket.pause();
      socket.unshift(first);
      https.emit('connection', socket);
      socket.resume();
    });
  });
  return start(server);
}

/** Accepts, then closes with a FIN before sending a byte: Istio's TCP RBAC deny (docs/behaviour.md O3). */
export function acceptAndCloseServer(): Promise<Running> {
  return start(
    net.createServer((socket) => {
      socket.end();
    }),
  );
}

/** Accepts and never answers: a connection that goes nowhere. */
export function silentServer(): Promise<Running> {
  return start(
    net.createServer((socket) => {
      socket.resume();
    }),
  );
}

/** A loopback port on which nothing listens (taken, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** A loopback UDP port on which nothing listens (taken, then released). */
export async function closedUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => {
    socket.close(() => {
      resolve();
    });
  });
  return port;
}

/**
 * A server that answers each request with exactly the bytes given, one write per part, a pause
 * between them so that each part leaves as a packet of its own (a response split anywhere), and
 * then closes (FIN, or RST with `reset`). The request is read up to its blank line first.
 */
export function rawReplyServer(
  parts: readonly (string | Buffer)[],
  options: { readonly gapMs?: number; readonly reset?: boolean } = {},
): Promise<Running> {
  const gapMs = options.gapMs ?? 15;
  return start(
    net.createServer((socket) => {
      let head = '';
      const onData = (chunk: Buffer): void => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.resume();
        void (async () => {
          for (const part of parts) {
            if (socket.destroyed) return;
            socket.write(part);
            await new Promise((resolve) => setTimeout(resolve, gapMs));
          }
          if (options.reset) socket.resetAndDestroy();
          else socket.end();
        })();
      };
      socket.on('data', onData);
    }),
  );
}
