/**
 * The exec subresource over WebSocket, as the API server relays it from the kubelet: the client
 * offers `v5.channel.k8s.io`, `v4.channel.k8s.io`, ...; every binary frame starts with a channel
 * byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; 255 "close this channel", v5 only);
 * when the command ends the server sends a v1 Status on channel 3 and closes the socket.
 * The command runs as a real local child process chosen by the test's handler.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

import { WebSocketServer, type WebSocket } from 'ws';

export interface ExecRequest {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

/**
 * The process an exec runs, as far as the endpoint uses it: a ChildProcess spawned with piped
 * stdio, or one started off the fake's event loop (./spawner.ts).
 */
export interface ExecProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly exitCode: number | null;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
}

/**
 * Starts the process an exec runs (spawned with piped stdio). A handler may also rewrite stdin
 * before the process sees it: that is how a test plays the cluster's network (Service names to
 * local servers). `rewriteStdin` takes the whole input, delivered at once when the client closes
 * stdin; `rewriteStdinLine` takes each line as it arrives (a session's batches), newline excluded.
 */
export type ExecHandler = (
  request: ExecRequest,
) =>
  | ExecProcess
  | { readonly process: ExecProcess; readonly rewriteStdin: (input: Buffer) => Buffer }
  | { readonly process: ExecProcess; readonly rewriteStdinLine: (line: Buffer) => Buffer };

/**
 * Limits on execs, as a loaded API server or kubelet imposes them, and the counts that show a
 * client kept within them. An exec is *opening* from its upgrade request until the WebSocket is
 * established (`openDelayMs` plays the kubelet starting the process) and *open* from then until
 * its connection closes. An exec beyond a limit is refused with 429 TooManyRequests.
 */
export interface ExecLimits {
  /** Refuse an exec that would make more than this many opening at once. Default: no limit. */
  readonly maxOpening?: number;
  /** Refuse an exec that would make more than this many open at once. Default: no limit. */
  readonly maxOpen?: number;
  /** How long each exec stays opening before its upgrade completes. Default 0. */
  readonly openDelayMs?: number;
}

export interface ExecCounts {
  opening: number;
  open: number;
  peakOpening: number;
  peakOpen: number;
  /** Execs refused by a limit. */
  refused: number;
}

export interface ExecSession {
  readonly request: ExecRequest;
  readonly protocol: string;
  readonly process: ExecProcess;
  /** Resolves with the exit code sent on channel 3 (137 for a SIGKILL, as the kubelet reports it). */
  readonly done: Promise<number>;
}

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const CLOSE = 255;
const NEWLINE = Buffer.from('\n');

export class ExecEndpoint {
  readonly sessions: ExecSession[] = [];
  readonly counts: ExecCounts = { opening: 0, open: 0, peakOpening: 0, peakOpen: 0, refused: 0 };
  private readonly wss: WebSocketServer;
  private readonly handler: ExecHandler | undefined;
  private readonly limits: ExecLimits;
  private readonly sockets = new Set<WebSocket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: {
    protocols: readonly string[];
    handler: ExecHandler | undefined;
    limits?: ExecLimits;
  }) {
    this.handler = options.handler;
    this.limits = options.limits ?? {};
    const served = options.protocols;
    this.wss = new WebSocketServer({
      noServer: true,
      // The server takes the first protocol, in the client's order, that it serves.
      handleProtocols: (offered) => [...offered].find((p) => served.includes(p)) ?? false,
    });
  }

  upgrade(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    request: ExecRequest,
    reject: (code: number, body: Record<string, unknown>) => void,
  ): void {
    if (request.command.length === 0) {
      reject(400, failure(400, 'BadRequest', 'you must specify at least 1 command'));
      return;
    }
    const { maxOpening, maxOpen, openDelayMs = 0 } = this.limits;
    const counts = this.counts;
    if (
      (maxOpening !== undefined && counts.opening + 1 > maxOpening) ||
      (maxOpen !== undefined && counts.open + 1 > maxOpen)
    ) {
      counts.refused += 1;
      reject(429, failure(429, 'TooManyRequests', 'Too many requests, please try again later.'));
      return;
    }
    counts.opening += 1;
    counts.peakOpening = Math.max(counts.peakOpening, counts.opening);
    const upgrade = () => {
      counts.opening -= 1;
      if (socket.destroyed) return;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        counts.open += 1;
        counts.peakOpen = Math.max(counts.peakOpen, counts.open);
        this.sockets.add(ws);
        ws.on('close', () => {
          counts.open -= 1;
          this.sockets.delete(ws);
        });
        this.run(ws, request);
      });
    };
    if (openDelayMs <= 0) {
      upgrade();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      upgrade();
    }, openDelayMs);
    this.timers.add(timer);
  }

  closeAll(): void {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sessions) if (s.process.exitCode === null) s.process.kill('SIGKILL');
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
  }

  private run(ws: WebSocket, request: ExecRequest): void {
    if (!ws.protocol) {
      ws.close(1002, 'no supported subprotocol');
      return;
    }
    if (!this.handler) {
      sendStatus(ws, failure(500, 'InternalError', 'fake API server: this test runs no exec handler'));
      ws.close(1000);
      return;
    }
    const started = this.handler(request);
    const child = 'process' in started ? started.process : started;
    const rewrite = 'rewriteStdin' in started ? started.rewriteStdin : undefined;
    const rewriteLine = 'rewriteStdinLine' in started ? started.rewriteStdinLine : undefined;
    const held: Buffer[] = [];
    let partial = Buffer.alloc(0);
    const writeLines = (data: Buffer) => {
      let rest = Buffer.concat([partial, data]);
      for (let at = rest.indexOf(10); at >= 0; at = rest.indexOf(10)) {
        child.stdin?.write(Buffer.concat([rewriteLine?.(rest.subarray(0, at)) ?? Buffer.alloc(0), NEWLINE]));
        rest = rest.subarray(at + 1);
      }
      partial = Buffer.from(rest);
    };
    const endStdin = () => {
      if (rewrite) child.stdin?.end(rewrite(Buffer.concat(held)));
      else if (rewriteLine && partial.length > 0) child.stdin?.end(rewriteLine(partial));
      else child.stdin?.end();
    };
    let open = true;
    const send = (channel: number, data: Buffer) => {
      if (open && ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), data]));
    };
    if (request.stdout)
      child.stdout?.on('data', (d: Buffer) => {
        send(STDOUT, d);
      });
    else child.stdout?.resume();
    if (request.stderr)
      child.stderr?.on('data', (d: Buffer) => {
        send(STDERR, d);
      });
    else child.stderr?.resume();
    child.stdin?.on('error', () => undefined);
    if (!request.stdin) child.stdin?.end();

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? data : Buffer.from(data);
      const channel = frame[0];
      if (channel === STDIN && request.stdin) {
        if (rewrite) held.push(Buffer.from(frame.subarray(1)));
        else if (rewriteLine) writeLines(frame.subarray(1));
        else child.stdin?.write(frame.subarray(1));
      } else if (channel === CLOSE && frame[1] === STDIN && ws.protocol === 'v5.channel.k8s.io') endStdin();
    });
    ws.on('close', () => {
      // The client went away (a v4 client does this when its stdin ends): the command's input
      // ends and its output has nowhere to go.
      open = false;
      if (!child.stdin?.writableEnded) child.stdin?.end();
    });

    const done = new Promise<number>((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => {
        const message =
          error.code === 'ENOENT'
            ? `OCI runtime exec failed: exec failed: unable to start container process: exec: "${request.command[0] ?? ''}": executable file not found in $PATH: unknown`
            : `OCI runtime exec failed: ${error.message}`;
        send(STDERR, Buffer.from(message + '\r\n'));
        finish(126);
      });
      child.on('close', (code, signal) => {
        finish(code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 1));
      });
      let finished = false;
      const finish = (code: number) => {
        if (finished) return;
        finished = true;
        if (open && ws.readyState === ws.OPEN) {
          sendStatus(
            ws,
            code === 0 ? { metadata: {}, status: 'Success' } : exitStatus(request.command, code),
          );
          ws.close(1000);
        }
        resolve(code);
      };
    });
    this.sessions.push({ request, protocol: ws.protocol, process: child, done });
  }
}

function sendStatus(ws: WebSocket, status: Record<string, unknown>): void {
  ws.send(Buffer.concat([Buffer.from([STATUS]), Buffer.from(JSON.stringify(status))]));
}

function failure(code: number, reason: string, message: string): Record<string, unknown> {
  return { metadata: {}, status: 'Failure', message, reason, code };
}

/** The Status the API server sends when the command exits non-zero. */
function exitStatus(command: readonly string[], code: number): Record<string, unknown> {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}
