/**
 * A worker thread for the fuzz test: runs the CLI in-process for each message it gets and posts
 * back the exit code and what was printed. The test terminates a worker whose run overruns its
 * time limit, so one variant that hangs or spins cannot stall the others.
 */
import { parentPort } from 'node:worker_threads';

import { runCli } from '../support/cli.js';

export interface FuzzTask {
  readonly id: number;
  readonly args: readonly string[];
  readonly cwd: string;
}

export interface FuzzAnswer {
  readonly id: number;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

const port = parentPort;
if (port) {
  port.on('message', (task: FuzzTask) => {
    const started = performance.now();
    void runCli(task.args, task.cwd).then(
      (r) => {
        const answer: FuzzAnswer = { id: task.id, ...r, ms: performance.now() - started };
        port.postMessage(answer);
      },
      (error: unknown) => {
        const answer: FuzzAnswer = {
          id: task.id,
          code: -1,
          stdout: '',
          stderr: `main() rejected: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
          ms: performance.now() - started,
        };
        port.postMessage(answer);
      },
    );
  });
}
