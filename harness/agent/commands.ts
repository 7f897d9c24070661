/**
 * `serve` and `probe` as whole commands: what the agent bundle runs in a pod and what
 * `bulkhead agent` runs on a laptop. Both entry points call these, so they behave alike.
 */
import type { Readable } from 'node:stream';

import { BatchError } from './batch.js';
import { probe, readAll } from './probe.js';
import { identityFromEnv, serve } from './serve.js';

export interface ServeCommand {
  readonly ports: readonly number[];
  readonly udpPorts: readonly number[];
  readonly host?: string;
}

/** Serves until SIGTERM or SIGINT, then closes every listener. */
export async function serveUntilSignal(command: ServeCommand, log: (line: string) => void): Promise<void> {
  // Listen for the signals first: whoever reads the "echo on" line may stop us at once.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  const identity = identityFromEnv();
  const serving = await serve({
    tcpPorts: command.ports,
    udpPorts: command.udpPorts,
    identity,
    ...(command.host ? { host: command.host } : {}),
  });
  const who = identity.pod ? ` as ${identity.namespace}/${identity.pod}` : '';
  log(`agent: echo on tcp ${serving.tcp.join(', ') || '-'}, udp ${serving.udp.join(', ') || '-'}${who}\n`);
  await stopped;
  await serving.close();
}

export interface ProbeCommand {
  readonly concurrency?: number;
  /** Print a summary (counts, wall time, peak RSS) as one JSON line on the log. */
  readonly stats: boolean;
}

/** Reads the batch from `input`, writes results; returns the exit code (2 when there is no batch). */
export async function probeInput(
  input: Readable,
  command: ProbeCommand,
  write: (line: string) => void,
  log: (line: string) => void,
): Promise<number> {
  try {
    const summary = await probe(await readAll(input), {
      write,
      ...(command.concurrency === undefined ? {} : { concurrency: command.concurrency }),
    });
    if (command.stats) log(JSON.stringify({ summary }) + '\n');
    return 0;
  } catch (error) {
    if (error instanceof BatchError) {
      log(`agent probe: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/** A flag the caller got wrong: a message and exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `8080`, `8080,9090` and repeated flags all name ports. */
export function parsePorts(values: readonly string[], flag: string): number[] {
  const ports: number[] = [];
  for (const value of values.flatMap((v) => v.split(','))) {
    const port = Number(value.trim());
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`${flag}: "${value}" is not a port (0-65535)`);
    ports.push(port);
  }
  return ports;
}

export function parseConcurrency(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--concurrency: "${value}" is not a positive integer`);
  return n;
}
