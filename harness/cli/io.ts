/** Where a command writes. Injected so tests run commands in-process and read what they print. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly cwd: string;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
};

/** Exit codes (DESIGN.md): every expectation held; an isolation expectation failed; bad input or a fault. */
export const EXIT = { ok: 0, failed: 1, fault: 2 } as const;
