/**
 * Progress output for long phases. On a terminal: one spinner line per phase, rewritten in
 * place. In CI or a pipe: plain timestamped lines, nothing rewritten, so logs stay readable.
 */

export interface Progress {
  /** Starts a phase ("apply fixtures"); ends the previous one. */
  phase(name: string): void;
  /** Says what the current phase is doing now ("3/19 pods ready"). */
  update(detail: string): void;
  /** Ends the current phase as done, with an optional summary. */
  done(summary?: string): void;
  /** Ends the current phase as failed. */
  fail(reason: string): void;
  /** A line that stays (`warning: …`), whatever the phase goes on to say. */
  warn(text: string): void;
}

export interface ProgressProps {
  readonly write: (text: string) => void;
  /** A terminal gets a spinner; anything else gets timestamped lines. */
  readonly interactive: boolean;
  /** @default Date.now */
  readonly now?: () => number;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function createProgress(props: ProgressProps): Progress {
  return props.interactive ? new SpinnerProgress(props) : new LineProgress(props);
}

/** True when output goes to a terminal and no CI variable says otherwise. */
export function isInteractive(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.CI;
}

class LineProgress implements Progress {
  private readonly props: ProgressProps;
  private current: { name: string; started: number } | undefined;
  private lastDetail = '';

  constructor(props: ProgressProps) {
    this.props = props;
  }

  private now(): number {
    return (this.props.now ?? Date.now)();
  }

  private line(text: string): void {
    const stamp = new Date(this.now()).toISOString().slice(11, 19);
    this.props.write(`${stamp} ${text}\n`);
  }

  phase(name: string): void {
    if (this.current) this.done();
    this.current = { name, started: this.now() };
    this.lastDetail = '';
    this.line(`${name} ...`);
  }

  update(detail: string): void {
    // Only changes are worth a line in a log.
    if (!this.current || detail === this.lastDetail) return;
    this.lastDetail = detail;
    this.line(`${this.current.name}: ${detail}`);
  }

  done(summary?: string): void {
    if (!this.current) return;
    this.line(
      `${this.current.name}: done in ${elapsed(this.now() - this.current.started)}${summary ? ` (${summary})` : ''}`,
    );
    this.current = undefined;
  }

  warn(text: string): void {
    this.line(`warning: ${text}`);
  }

  fail(reason: string): void {
    if (!this.current) return;
    this.line(`${this.current.name}: FAILED after ${elapsed(this.now() - this.current.started)}: ${reason}`);
    this.current = undefined;
  }
}

class SpinnerProgress implements Progress {
  private readonly props: ProgressProps;
  private current: { name: string; started: number; detail: string } | undefined;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(props: ProgressProps) {
    this.props = props;
  }

  private now(): number {
    return (this.props.now ?? Date.now)();
  }

  private render(): void {
    if (!this.current) return;
    const { name, detail } = this.current;
    this.frame = (this.frame + 1) % FRAMES.length;
    this.props.write(`\r\x1b[2K${FRAMES[this.frame] ?? ''} ${name}${detail ? `: ${detail}` : ''}`);
  }

  phase(name: string): void {
    if (this.current) this.done();
    this.current = { name, started: this.now(), detail: '' };
    this.render();
    this.timer = setInterval(() => {
      this.render();
    }, 100);
    this.timer.unref();
  }

  update(detail: string): void {
    if (!this.current) return;
    this.current.detail = detail;
    this.render();
  }

  warn(text: string): void {
    this.props.write(`\r\x1b[2K⚠ warning: ${text}\n`);
    this.render();
  }

  private finish(mark: string, text: string): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.props.write(`\r\x1b[2K${mark} ${text}\n`);
    this.current = undefined;
  }

  done(summary?: string): void {
    if (!this.current) return;
    const { name, started } = this.current;
    this.finish('✔', `${name} (${elapsed(this.now() - started)}${summary ? `, ${summary}` : ''})`);
  }

  fail(reason: string): void {
    if (!this.current) return;
    const { name, started } = this.current;
    this.finish('✖', `${name} failed after ${elapsed(this.now() - started)}: ${reason}`);
  }
}

export function elapsed(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
