/**
 * The exec subresource over WebSocket, as the API server relays it from the kubelet: the client
 * offers `v5.channel.k8s.io`, `v4.channel.k8s.io`, ...; every binary frame starts with a channel
 * byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; 255 "close this channel", v5 only);
 * when the command ends the server sends a v1 Status on channel 3 and closes the socket.
 * The command runs as a real local child process chosen by the test's handler.
 */
import type { ChildProcess } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

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
 * Starts the process an exec runs (spawned with piped stdio). A handler may also rewrite the
 * whole stdin before the process sees it: that is how a test plays the cluster's network
 * (Service names to local servers); stdin is then delivered at once when the client closes it.
 */
export type ExecHandler = (
  request: ExecRequest,
) => ChildProcess | { readonly process: ChildProcess; readonly rewriteStdin: (input: Buffer) => Buffer };

export interface ExecSession {
  readonly request: ExecRequest;
  readonly protocol: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code sent on channel 3 (137 for a SIGKILL, as the kubelet reports it). */
  readonly done: Promise<number>;
}

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const CLOSE = 255;

export class ExecEndpoint {
  readonly sessions: ExecSession[] = [];
  private readonly wss: WebSocketServer;
  private readonly handler: ExecHandler | undefined;
  private readonly sockets = new Set<WebSocket>();

  constructor(options: { protocols: readonly string[]; handler: ExecHandler | undefined }) {
    this.handler = options.handler;
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
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      this.run(ws, request);
    });
  }

  closeAll(): void {
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
    const child = 'rewriteStdin' in started ? started.process : started;
    const rewrite = 'rewriteStdin' in started ? started.rewriteStdin : undefined;
    const held: Buffer[] = [];
    const endStdin = () => {
      if (rewrite) child.stdin?.end(rewrite(Buffer.concat(held)));
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
