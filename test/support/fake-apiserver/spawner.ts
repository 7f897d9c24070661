/**
 * Starts the fake API server's exec processes from a small process of its own, so that the
 * fake's event loop never blocks on one. Node's `child_process.spawn` is synchronous: libuv forks
 * the calling process and waits until the child has called exec (it learns of success or failure
 * over a pipe), which in a process the size of a test runner or of the fake with its WebSocket
 * relays takes tens of milliseconds per child, more on a loaded machine. Sixty agents starting
 * at once then stall every exec the fake relays for seconds, a cost a real API server and kubelet
 * do not put on the client's machine. The spawner's own fork is cheap (it is small), and while it
 * forks, the fake goes on relaying.
 *
 * No byte of an exec's input or output passes through the spawner: for each process the fake
 * opens three Unix-socket connections to it (stdin, stdout, stderr), each starting with a header
 * line naming the process and the stream, and the spawner hands the three sockets to the child
 * as its fds 0, 1 and 2 and closes its own copies. From then on the fake and the child talk over
 * those sockets directly, as they would over pipes (libuv treats a Unix socket on stdio as a
 * pipe: same reads, same writes, end of input on half-close). The fake holds stdin until the
 * spawner says the child started, so the spawner never reads a byte meant for the child.
 * Exit status, kills and spawn errors travel over the spawner's IPC channel.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

/** The spawner process: plain CommonJS, Node built-ins only, run with `node -e`. */
const SPAWNER = String.raw`
const net = require('node:net');
const { spawn } = require('node:child_process');
const pending = new Map();
const children = new Map();
const entry = (id) => {
  let e = pending.get(id);
  if (!e) pending.set(id, (e = { sockets: [undefined, undefined, undefined], request: undefined }));
  return e;
};
const tryStart = (id) => {
  const e = pending.get(id);
  if (!e || !e.request || e.sockets.some((s) => s === undefined)) return;
  pending.delete(id);
  let child;
  try {
    child = spawn(e.request.file, e.request.args, { stdio: e.sockets, env: e.request.env });
  } catch (error) {
    for (const s of e.sockets) s.destroy();
    process.send({ id, error: { message: error.message, code: error.code } });
    return;
  }
  // The child holds its own copies now; the spawner keeps none.
  for (const s of e.sockets) s.destroy();
  children.set(id, child);
  child.once('spawn', () => process.send({ id, pid: child.pid }));
  child.once('error', (error) => {
    children.delete(id);
    process.send({ id, error: { message: error.message, code: error.code, errno: error.errno, syscall: error.syscall, path: error.path } });
  });
  child.once('exit', (code, signal) => {
    children.delete(id);
    process.send({ id, exit: { code, signal } });
  });
};
const server = net.createServer((socket) => {
  let head = '';
  const onData = (chunk) => {
    head += chunk.toString('latin1');
    const nl = head.indexOf('\n');
    if (nl < 0) return;
    socket.off('data', onData);
    socket.pause();
    const [id, fd] = head.slice(0, nl).split(' ');
    entry(id).sockets[Number(fd)] = socket;
    tryStart(id);
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
});
process.on('message', (m) => {
  if (m.spawn) {
    entry(m.spawn.id).request = m.spawn;
    tryStart(m.spawn.id);
  } else if (m.kill) {
    const child = children.get(m.kill.id);
    if (child) child.kill(m.kill.signal);
  }
});
process.on('disconnect', () => {
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(0);
});
server.listen(process.argv[1], () => process.send({ listening: true }));
`;

interface SpawnerMessage {
  readonly listening?: true;
  readonly id?: string;
  readonly pid?: number;
  readonly exit?: { readonly code: number | null; readonly signal: NodeJS.Signals | null };
  readonly error?: {
    readonly message: string;
    readonly code?: string;
    readonly errno?: number;
    readonly syscall?: string;
    readonly path?: string;
  };
}

/**
 * A process started by the spawner, shaped like the parts of a ChildProcess the fake uses: the
 * three streams, `kill`, `exitCode`, and the `spawn`, `exit`, `error` and `close` events
 * (`close` once it exited and its stdout and stderr ended, as Node's own).
 */
export class SpawnedProcess extends EventEmitter {
  readonly stdin: Writable;
  readonly stdout: Socket;
  readonly stderr: Socket;
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  killed = false;
  private readonly input: Socket;
  private started = false;
  private held: { chunk: Buffer; callback: (error?: Error | null) => void }[] = [];
  private heldEnd: ((error?: Error | null) => void) | undefined;
  private exited = false;
  private streamsOpen = 2;
  private readonly sendKill: (signal: NodeJS.Signals) => void;

  constructor(sockets: readonly [Socket, Socket, Socket], sendKill: (signal: NodeJS.Signals) => void) {
    super();
    this.sendKill = sendKill;
    const [input, stdout, stderr] = sockets;
    this.input = input;
    this.stdout = stdout;
    this.stderr = stderr;
    input.on('error', (error) => this.stdin.destroy(error));
    // The child's input: held until the child started, so that the spawner reads none of it.
    this.stdin = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.started) input.write(chunk, callback);
        else this.held.push({ chunk, callback });
      },
      final: (callback) => {
        if (this.started) input.end(callback);
        else this.heldEnd = callback;
      },
      destroy: (error, callback) => {
        input.destroy();
        callback(error);
      },
    });
    for (const s of [stdout, stderr]) {
      s.on('error', () => undefined);
      s.once('close', () => {
        this.streamsOpen -= 1;
        this.maybeClose();
      });
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exited) return false;
    this.killed = true;
    this.sendKill(signal);
    return true;
  }

  /** From the spawner: the child started. */
  onStarted(pid: number): void {
    this.pid = pid;
    this.started = true;
    for (const { chunk, callback } of this.held) this.input.write(chunk, callback);
    this.held = [];
    if (this.heldEnd) this.input.end(this.heldEnd);
    this.heldEnd = undefined;
    this.emit('spawn');
  }

  /** From the spawner: the child exited. */
  onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exited = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
    this.maybeClose();
  }

  /** From the spawner: the child could not start (or failed), as ChildProcess's `error`. */
  onError(facts: NonNullable<SpawnerMessage['error']>): void {
    const error = Object.assign(new Error(facts.message), facts);
    if (!this.started) {
      this.exited = true;
      this.stdin.destroy();
      for (const s of [this.input, this.stdout, this.stderr]) s.destroy();
    }
    this.emit('error', error);
    // Its streams may have closed already (nothing held their far ends).
    this.maybeClose();
  }

  private closed = false;

  private maybeClose(): void {
    if (this.closed || !this.exited || this.streamsOpen > 0) return;
    this.closed = true;
    this.emit('close', this.exitCode, this.signalCode);
  }
}

/** One spawner process for one fake API server (or test); `stop` kills what it still runs. */
export class Spawner {
  private readonly child: ChildProcess;
  private readonly socketPath: string;
  private readonly dir: string;
  private readonly processes = new Map<string, SpawnedProcess>();
  private next = 1;

  private constructor(child: ChildProcess, dir: string, socketPath: string) {
    this.child = child;
    this.dir = dir;
    this.socketPath = socketPath;
    child.on('message', (m: SpawnerMessage) => {
      this.message(m);
    });
  }

  static async start(): Promise<Spawner> {
    const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-spawner-'));
    const socketPath = path.join(dir, 'spawner.sock');
    const child = spawnChild(process.execPath, ['-e', SPAWNER, socketPath], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: SpawnerMessage) => {
        if (!m.listening) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve();
      };
      const onExit = (code: number | null) => {
        reject(new Error(`the spawner exited with ${String(code)} before it listened`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    // It must not keep a test process alive on its own.
    child.unref();
    child.channel?.unref();
    return new Spawner(child, dir, socketPath);
  }

  /** Starts `file args` with its stdio on sockets to this process; returns at once. */
  spawn(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): SpawnedProcess {
    const id = String(this.next++);
    const sockets = [0, 1, 2].map((fd) => {
      const socket = connect(this.socketPath);
      socket.write(`${id} ${fd}\n`);
      return socket;
    }) as [Socket, Socket, Socket];
    const spawned = new SpawnedProcess(sockets, (signal) => {
      this.child.send({ kill: { id, signal } });
    });
    this.processes.set(id, spawned);
    this.child.send({ spawn: { id, file, args, env } });
    return spawned;
  }

  /** Kills every process still running and ends the spawner. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.disconnect();
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  private message(m: SpawnerMessage): void {
    const spawned = m.id === undefined ? undefined : this.processes.get(m.id);
    if (!spawned || m.id === undefined) return;
    if (m.pid !== undefined) spawned.onStarted(m.pid);
    else if (m.exit) {
      this.processes.delete(m.id);
      spawned.onExit(m.exit.code, m.exit.signal);
    } else if (m.error) {
      this.processes.delete(m.id);
      spawned.onError(m.error);
    }
  }
}
