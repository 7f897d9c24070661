import { execFile } from 'node:child_process';
import path from 'node:path';

import { main } from '../../harness/cli/main.js';
import { repoRoot } from './scenarios.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with captured output, as `bulkhead <args>` from `cwd`. */
export async function runCli(args: readonly string[], cwd = repoRoot): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'bulkhead', ...args], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    cwd,
  });
  return { code, stdout, stderr };
}

/**
 * `bulkhead run -f scenario.yaml --provider existing --kubeconfig kubeconfig` in `dir`, with no
 * settle time, no pause between rounds, no network barrier (the fake cluster has no dataplane
 * for the canary unless a test gives it one: test/support/canary.ts; a later
 * `--barrier-timeout` in `extra` turns it back on) and run id `r1`, so tests need no real waits.
 */
export function runExisting(dir: string, ...extra: string[]): Promise<CliResult> {
  return runCli(
    [
      'run',
      '-f',
      'scenario.yaml',
      '--provider',
      'existing',
      '--kubeconfig',
      'kubeconfig',
      '--settle',
      '0',
      '--round-interval',
      '0',
      '--barrier-timeout',
      '0',
      '--run-id',
      'r1',
      ...extra,
    ],
    dir,
  );
}

/** Runs the real `bin/bulkhead.js` in a child process, as a user would. */
export function runBin(args: readonly string[], cwd = repoRoot): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, 'bin', 'bulkhead.js'), ...args],
      { cwd, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
