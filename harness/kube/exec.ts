/**
 * Exec in a pod over the API server's WebSocket subprotocol, with stdin, stdout, stderr and the
 * exit status (channel 3): {@link execInPod} for a command that takes its input at once and
 * ends, {@link openExecStream} for one that stays up and reads input as it comes (an agent
 * session). A failed exec is a typed {@link ExecError}; the caller decides what it means (for
 * probes: outcome `error`, never a deny).
 */
import { Agent as HttpsAgent } from 'node:https';
import { PassThrough, Writable } from 'node:stream';
import { debuglog } from 'node:util';

import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';

import { kubeError } from './errors.js';

export interface ExecProps {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
  /** Sent on stdin, which is then closed. Needs the v5 subprotocol (see {@link ExecError} `stdin-unsupported`). */
  readonly stdin?: string | Buffer;
  /** Deadline for the whole exec, connection included. */
  readonly timeoutMs: number;
  /**
   * Output beyond this many bytes per stream is dropped (and reported as truncated).
   * @default 16 MiB
   */
  readonly maxOutputBytes?: number;
  /** Receives stdout as it arrives (for streaming results), besides the collected copy. */
  readonly onStdout?: (chunk: Buffer) => void;
  /** Called once the WebSocket is open (the exec is no longer opening), before any input is sent. */
  readonly onOpen?: () => void;
  readonly signal?: AbortSignal;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The subprotocol the API server chose, e.g. `v5.channel.k8s.io`. */
  readonly protocol: string;
  readonly truncated: boolean;
  readonly durationMs: number;
}

export type ExecFailure = 'connect' | 'stdin-unsupported' | 'status' | 'closed' | 'timeout' | 'aborted';

export class ExecError extends Error {
  override readonly name = 'ExecError';
  readonly failure: ExecFailure;
  /** What had arrived before the failure: a killed command still leaves its finished output. */
  readonly stdout: string;
  readonly stderr: string;
  constructor(
    failure: ExecFailure,
    message: string,
    partial: { stdout: string; stderr: string } = { stdout: '', stderr: '' },
  ) {
    super(message);
    this.failure = failure;
    this.stdout = partial.stdout;
    this.stderr = partial.stderr;
  }
}

const V5 = 'v5.channel.k8s.io';

/** `NODE_DEBUG=bulkhead:exec`: pod, subprotocol, bytes and exit of every exec. */
const trace = debuglog('bulkhead:exec');

export async function execInPod(kubeConfig: KubeConfig, props: ExecProps): Promise<ExecResult> {
  const started = Date.now();
  const where = `pod ${props.namespace}/${props.pod} (container ${props.container})`;
  const limit = props.maxOutputBytes ?? 16 * 1024 * 1024;
  let truncated = false;
  const collect = (onChunk?: (chunk: Buffer) => void) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        onChunk?.(chunk);
        if (size + chunk.length > limit) truncated = true;
        else {
          chunks.push(chunk);
          size += chunk.length;
        }
        callback();
      },
    });
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = collect(props.onStdout);
  const err = collect();
  const partial = () => ({ stdout: out.text(), stderr: err.text() });
  const stdin = props.stdin === undefined ? null : new PassThrough();

  // The connection of this exec alone, so that a timeout or Ctrl-C can end it even while the
  // WebSocket upgrade still hangs (the ws library waits for an upgrade forever by default).
  const agent = new HttpsAgent();
  const config = boundedConfig(kubeConfig, props.timeoutMs, agent);

  return new Promise<ExecResult>((resolve, reject) => {
    let settled = false;
    let socket: { close(): void } | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      props.signal?.removeEventListener('abort', onAbort);
      fn();
      // Whatever is left of the connection (a hung upgrade, a socket the server keeps open).
      setImmediate(() => {
        agent.destroy();
      });
    };
    const fail = (failure: ExecFailure, message: string) => {
      if (!settled) trace('%s: %s after %d ms: %s', where, failure, Date.now() - started, message);
      settle(() => {
        socket?.close();
        reject(new ExecError(failure, `exec in ${where}: ${message}`, partial()));
      });
    };
    const timer = setTimeout(() => {
      fail('timeout', `no exit status within ${props.timeoutMs} ms`);
    }, props.timeoutMs);
    const onAbort = () => {
      fail('aborted', 'aborted');
    };
    if (props.signal?.aborted) {
      onAbort();
      return;
    }
    props.signal?.addEventListener('abort', onAbort);

    const onStatus = (status: V1Status) => {
      // Let the streams flush what arrived with or before the status frame.
      setImmediate(() => {
        const code = exitCodeOf(status);
        if (code === undefined) {
          fail('status', `${status.reason ?? 'Failure'}: ${status.message ?? 'no message'}`);
          return;
        }
        settle(() => {
          const result = {
            exitCode: code,
            ...partial(),
            protocol: protocolOf(socket),
            truncated,
            durationMs: Date.now() - started,
          };
          trace(
            '%s [%s] -> exit %d, %d bytes out, %d bytes err, %d ms',
            where,
            result.protocol,
            code,
            Buffer.byteLength(result.stdout),
            Buffer.byteLength(result.stderr),
            result.durationMs,
          );
          resolve(result);
        });
      });
    };

    new Exec(config)
      .exec(
        props.namespace,
        props.pod,
        props.container,
        [...props.command],
        out.stream,
        err.stream,
        stdin,
        false,
        onStatus,
      )
      .then((ws) => {
        socket = ws;
        if (settled) {
          ws.close();
          return;
        }
        props.onOpen?.();
        ws.on('close', () => {
          // The status frame, when there is one, is handled before the close event.
          setImmediate(() => {
            fail('closed', 'the connection closed before the command reported its exit status');
          });
        });
        if (stdin) {
          if (ws.protocol !== V5) {
            // v4 cannot end stdin without closing the whole stream, which would cut the output off.
            fail(
              'stdin-unsupported',
              `the API server chose ${ws.protocol || 'no subprotocol'}, which cannot close stdin alone; pass the input another way`,
            );
            return;
          }
          stdin.end(props.stdin);
        }
      })
      .catch((error: unknown) => {
        fail('connect', describeConnectError(error));
      });
  });
}

export interface ExecStreamProps {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: readonly string[];
  /** Deadline for the connection (the WebSocket upgrade); the stream itself has none. */
  readonly connectTimeoutMs: number;
  /** Receives stdout as it arrives; nothing of it is kept. */
  readonly onStdout: (chunk: Buffer) => void;
  /**
   * The last this many bytes of stderr are kept for the end's report.
   * @default 64 KiB
   */
  readonly stderrTailBytes?: number;
  /** Ends the exec (`done` then reports `aborted`), whether it is still opening or open. */
  readonly signal?: AbortSignal;
}

/** How a stream ended: the command's exit code, or why there is none. */
export interface ExecStreamEnd {
  /** Set when the command reported its exit status. */
  readonly exitCode?: number;
  /** Set when it did not. */
  readonly failure?: ExecFailure;
  /** What happened, with the pod named (e.g. `exec in pod a/b (container agent): aborted`). */
  readonly message: string;
  /** The tail of stderr. */
  readonly stderr: string;
  readonly durationMs: number;
}

/**
 * A long-lived exec with stdin kept open: write to it as often as needed, end the input when
 * done. It needs the v5 subprotocol, so that stdin can end while output keeps coming.
 */
export interface ExecStream {
  /** The subprotocol the API server chose (always v5.channel.k8s.io). */
  readonly protocol: string;
  /** Sends bytes on stdin; ignored once the stream ended. */
  write(data: string | Buffer): void;
  /** Closes stdin (the command reads end of input); output keeps coming until it exits. */
  endInput(): void;
  /** Ends the exec at once: the connection is closed and `done` reports `closed`. */
  close(): void;
  /** Settles (never rejects) when the command exits or the exec fails. */
  readonly done: Promise<ExecStreamEnd>;
}

/**
 * Opens an exec whose stdin stays open. Resolves once the WebSocket is open; rejects with an
 * {@link ExecError} when it cannot connect in time, is aborted, or the server does not speak v5
 * (`stdin-unsupported`: the caller should pass its input another way).
 */
export function openExecStream(kubeConfig: KubeConfig, props: ExecStreamProps): Promise<ExecStream> {
  const started = Date.now();
  const where = `pod ${props.namespace}/${props.pod} (container ${props.container})`;
  const tailLimit = props.stderrTailBytes ?? 64 * 1024;
  let stderrTail = Buffer.alloc(0);
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      props.onStdout(chunk);
      callback();
    },
  });
  const err = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stderrTail = Buffer.concat([stderrTail, chunk]);
      if (stderrTail.length > tailLimit) stderrTail = stderrTail.subarray(stderrTail.length - tailLimit);
      callback();
    },
  });
  const stdin = new PassThrough();
  const agent = new HttpsAgent();
  const config = boundedConfig(kubeConfig, props.connectTimeoutMs, agent);
  let socket: { close(): void; protocol?: string } | undefined;
  let ended = false;
  let resolveDone: (end: ExecStreamEnd) => void = () => undefined;
  const done = new Promise<ExecStreamEnd>((resolve) => {
    resolveDone = resolve;
  });

  return new Promise<ExecStream>((resolve, reject) => {
    let opened = false;
    const end = (result: { exitCode: number } | { failure: ExecFailure; message: string }) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      props.signal?.removeEventListener('abort', onAbort);
      const stderr = stderrTail.toString('utf8');
      const durationMs = Date.now() - started;
      if ('exitCode' in result) {
        trace('%s [stream] -> exit %d after %d ms', where, result.exitCode, durationMs);
        resolveDone({
          exitCode: result.exitCode,
          message: `exec in ${where}: exit code ${result.exitCode}`,
          stderr,
          durationMs,
        });
      } else {
        const message = `exec in ${where}: ${result.message}`;
        trace('%s [stream]: %s after %d ms: %s', where, result.failure, durationMs, result.message);
        resolveDone({ failure: result.failure, message, stderr, durationMs });
        if (!opened) reject(new ExecError(result.failure, message, { stdout: '', stderr }));
      }
      socket?.close();
      setImmediate(() => {
        agent.destroy();
      });
    };
    const fail = (failure: ExecFailure, message: string) => {
      end({ failure, message });
    };
    const timer = setTimeout(() => {
      fail('timeout', `not connected within ${props.connectTimeoutMs} ms`);
    }, props.connectTimeoutMs);
    const onAbort = () => {
      fail('aborted', 'aborted');
    };
    if (props.signal?.aborted) {
      onAbort();
      return;
    }
    props.signal?.addEventListener('abort', onAbort);

    const onStatus = (status: V1Status) => {
      setImmediate(() => {
        const code = exitCodeOf(status);
        if (code === undefined)
          fail('status', `${status.reason ?? 'Failure'}: ${status.message ?? 'no message'}`);
        else end({ exitCode: code });
      });
    };

    new Exec(config)
      .exec(props.namespace, props.pod, props.container, [...props.command], out, err, stdin, false, onStatus)
      .then((ws) => {
        socket = ws;
        if (ended) {
          ws.close();
          return;
        }
        ws.on('close', () => {
          setImmediate(() => {
            fail('closed', 'the connection closed before the command reported its exit status');
          });
        });
        if (ws.protocol !== V5) {
          fail(
            'stdin-unsupported',
            `the API server chose ${ws.protocol || 'no subprotocol'}, which cannot close stdin alone; pass the input another way`,
          );
          return;
        }
        clearTimeout(timer);
        opened = true;
        trace('%s [%s] stream open after %d ms', where, ws.protocol, Date.now() - started);
        resolve({
          protocol: ws.protocol,
          write: (data) => {
            if (!ended && !stdin.writableEnded) stdin.write(data);
          },
          endInput: () => {
            if (!ended && !stdin.writableEnded) stdin.end();
          },
          close: () => {
            fail('closed', 'closed by the harness');
          },
          done,
        });
      })
      .catch((error: unknown) => {
        fail('connect', describeConnectError(error));
      });
  });
}

/**
 * The kubeconfig as client-node's WebSocket handler sees it, with a handshake deadline and this
 * exec's own agent (for a direct https connection; a proxy keeps client-node's agent).
 */
function boundedConfig(kubeConfig: KubeConfig, handshakeTimeoutMs: number, agent: HttpsAgent): KubeConfig {
  const server = kubeConfig.getCurrentCluster();
  const bounded = Object.create(kubeConfig) as KubeConfig;
  bounded.applyToHTTPSOptions = async (opts) => {
    await kubeConfig.applyToHTTPSOptions(opts);
    const options = opts as { handshakeTimeout?: number; agent?: unknown };
    options.handshakeTimeout = handshakeTimeoutMs;
    if (!server?.proxyUrl && server?.server.startsWith('https:')) options.agent = agent;
  };
  return bounded;
}

function protocolOf(socket: unknown): string {
  return (socket as { protocol?: string } | undefined)?.protocol ?? '';
}

/** 0 for Success; the ExitCode cause for NonZeroExitCode; undefined for any other failure. */
export function exitCodeOf(status: V1Status): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason === 'NonZeroExitCode') {
    const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
    const code = Number(cause?.message);
    return Number.isInteger(code) ? code : undefined;
  }
  return undefined;
}

function describeConnectError(error: unknown): string {
  // The ws library reports a refused upgrade as "Unexpected server response: 404".
  const message =
    error instanceof Error ? error.message : (error as { message?: string } | undefined)?.message;
  return message ?? kubeError(error, 'exec', '').message;
}
