/**
 * Loopback servers that are not the API server a kubeconfig points at, each the way a real
 * environment goes wrong: a port that takes TCP connections and never says a word, one that
 * starts a TLS handshake and never finishes it, one that hangs up at once, one that speaks plain
 * HTTP. Only 127.0.0.1 is ever bound.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface BrokenServer {
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: () => number;
  /** Resolves at the next accepted connection. */
  readonly connected: () => Promise<void>;
  readonly close: () => Promise<void>;
}

type Behaviour = 'silent' | 'tls-stall' | 'hang-up';

/** A TCP server on 127.0.0.1 that accepts and then behaves as named. */
export async function brokenServer(behaviour: Behaviour): Promise<BrokenServer> {
  const sockets = new Set<Socket>();
  const waiting: (() => void)[] = [];
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    for (const resolve of waiting.splice(0)) resolve();
    if (behaviour === 'hang-up') socket.destroy();
    if (behaviour === 'tls-stall') {
      // After the ClientHello: the header of a handshake record announcing 122 bytes of
      // ServerHello, and the first two of them. The client waits for the rest forever.
      socket.once('data', () => {
        socket.write(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00]));
      });
    }
  });
  return wrap(server, () => count, waiting, sockets, 'https');
}

/** An HTTP (not HTTPS) server on 127.0.0.1, as a wrong port in a kubeconfig may find. */
export async function plainHttpServer(): Promise<BrokenServer> {
  const sockets = new Set<Socket>();
  const waiting: (() => void)[] = [];
  let count = 0;
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello\n');
  });
  server.on('connection', (socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    for (const resolve of waiting.splice(0)) resolve();
  });
  return wrap(server, () => count, waiting, sockets, 'https');
}

async function wrap(
  server: Server,
  connections: () => number,
  waiting: (() => void)[],
  sockets: Set<Socket>,
  scheme: string,
): Promise<BrokenServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // The kubeconfig says https whatever the port speaks: that is the mistake being tested.
    url: `${scheme}://127.0.0.1:${port}`,
    connections,
    connected: () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}
