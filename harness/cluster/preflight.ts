/**
 * Checks made before anything is created, each failing with one sentence that says the fix:
 * the Docker engine answers, kind is installed and recent enough for the pinned node image, a
 * requested API server port is free, and the inotify limits are high enough for a multi-node
 * kind cluster (kind's known issue "too many open files").
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

import { UserError } from '../errors.js';
import type { CommandRunner } from './commands.js';

/** The limits kind's documentation recommends. */
export const INOTIFY_MINIMUMS = { max_user_watches: 524288, max_user_instances: 512 } as const;

/** The Docker engine's version; a UserError when it does not answer. */
export async function checkDocker(runner: CommandRunner): Promise<string> {
  const r = await runner.try('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 30_000 });
  if (r.missing)
    throw new UserError('docker is not installed; install Docker Engine (or Docker Desktop) and retry');
  if (r.failed || !r.stdout.trim()) {
    const why = (r.stderr.trim().split('\n').at(-1) ?? '') || (r.reason ?? 'no answer');
    throw new UserError(
      `the Docker engine is not reachable (${why}); start Docker or point DOCKER_HOST at it, then retry`,
    );
  }
  return r.stdout.trim();
}

export { compareVersions } from './versions.js';

/** Refuses a host port that something already listens on. */
export async function checkPortFree(port: number, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new UserError(
          `port ${String(port)} on ${host} is in use (${error.code ?? error.message}); free it or pass another --api-server-port`,
        ),
      );
    });
    server.listen(port, host, () => {
      server.close(() => {
        resolve();
      });
    });
  });
}

/** Refuses inotify limits below kind's recommendation (nodes then fail with "too many open files"). */
export async function checkInotify(dir = '/proc/sys/fs/inotify'): Promise<void> {
  for (const [name, minimum] of Object.entries(INOTIFY_MINIMUMS)) {
    let value: number;
    try {
      value = Number((await readFile(path.join(dir, name), 'utf8')).trim());
    } catch {
      continue; // not Linux, or not readable: nothing to check
    }
    if (Number.isFinite(value) && value < minimum) {
      throw new UserError(
        `fs.inotify.${name} is ${String(value)}, below the ${String(minimum)} kind needs; run \`sudo sysctl fs.inotify.${name}=${String(minimum)}\` and retry`,
      );
    }
  }
}
