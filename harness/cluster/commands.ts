/**
 * The one seam between bulkhead and the tools it drives (kind, istioctl, docker): execa with
 * array arguments, never a shell. Every command is logged as the shell line that reproduces it,
 * so an auditor can rebuild the environment by hand from the log.
 */
import { execa } from 'execa';

/** Where provisioning steps are told: one line per step, already formatted. */
export type StepLog = (line: string) => void;

export interface CommandProps {
  /** Written to the child's stdin. */
  readonly input?: string;
  /** Environment for the child, on top of the caller's (PATH decides which `kind` runs). */
  readonly env?: NodeJS.ProcessEnv;
  /** @default 600000 (10 minutes: `kind create cluster` pulls a node image) */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface CommandResult {
  /** The command as a shell line, quoted so it pastes. */
  readonly command: string;
  /** undefined when the program could not start or a signal ended it. */
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly failed: boolean;
  /** The program was not found on PATH. */
  readonly missing: boolean;
  /** Why it failed, in one line, when it did. */
  readonly reason?: string;
}

/** A command that ended badly, with what it printed (the tool's own words are the best hint). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly result: CommandResult;
  constructor(result: CommandResult) {
    const tail = lastLines(result.stderr || result.stdout, 5);
    super(`\`${result.command}\` failed: ${result.reason ?? 'unknown failure'}${tail ? `\n${tail}` : ''}`);
    this.result = result;
  }
}

export interface CommandRunnerProps {
  readonly log: StepLog;
  /** The environment children see (PATH first of all). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

export class CommandRunner {
  readonly log: StepLog;
  readonly env: NodeJS.ProcessEnv;

  constructor(props: CommandRunnerProps) {
    this.log = props.log;
    this.env = props.env ?? process.env;
  }

  /** Runs a command and returns what happened; never throws for a non-zero exit. */
  async try(file: string, args: readonly string[], props: CommandProps = {}): Promise<CommandResult> {
    const command = shellLine([file, ...args]);
    this.log(`$ ${command}${props.input === undefined ? '' : ' <<EOF … EOF'}`);
    const result = await execa(file, [...args], {
      reject: false,
      extendEnv: false,
      env: { ...this.env, ...props.env },
      timeout: props.timeoutMs ?? 600_000,
      ...(props.signal ? { cancelSignal: props.signal } : {}),
      ...(props.input === undefined ? { stdin: 'ignore' as const } : { input: props.input }),
      stripFinalNewline: true,
    });
    const stdout = typeof result.stdout === 'string' ? result.stdout : '';
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    if (!result.failed) return { command, exitCode: 0, stdout, stderr, failed: false, missing: false };
    const missing = (result as { code?: string }).code === 'ENOENT';
    const reason = result.timedOut
      ? `timed out after ${String(props.timeoutMs ?? 600_000)} ms`
      : result.isCanceled
        ? 'cancelled'
        : result.exitCode === undefined
          ? (result.signal ?? firstLine(result.shortMessage ?? 'no exit code'))
          : `exit code ${String(result.exitCode)}`;
    return {
      command,
      exitCode: result.exitCode,
      stdout,
      stderr,
      failed: true,
      missing,
      reason: missing ? `${file} is not installed (not found on PATH)` : reason,
    };
  }

  /** Runs a command; a failure throws {@link CommandError}. */
  async run(file: string, args: readonly string[], props: CommandProps = {}): Promise<CommandResult> {
    const result = await this.try(file, args, props);
    if (result.failed) throw new CommandError(result);
    return result;
  }
}

const SAFE = /^[\w@%+=:,./-]+$/;

/** Quotes words for a POSIX shell: `kind create cluster --name 'my cluster'`. */
export function shellLine(words: readonly string[]): string {
  return words.map((w) => (w !== '' && SAFE.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}
