import { isInteractive } from '../run/progress.js';

/** Where a command writes. Injected so tests run commands in-process and read what they print. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly cwd: string;
  /** Progress on stderr as a spinner (a terminal) or as timestamped lines (CI, pipes). Default false. */
  readonly interactive?: boolean;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
  interactive: isInteractive(process.stderr),
};

/** Exit codes (README "Exit codes"): every expectation held; an isolation expectation failed; bad input or a fault. */
export const EXIT = { ok: 0, failed: 1, fault: 2 } as const;

/**
 * Ends a command with an exit code after it has printed its own output (a run whose table shows
 * failures exits 1). Not an error: main() prints nothing more for it.
 */
export class CommandExit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}
