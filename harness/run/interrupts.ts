/**
 * Ctrl-C for the commands that change a cluster (run, upgrade-check): the first SIGINT or
 * SIGTERM aborts the scope's signal, so every phase stops new work, cleans up (unless kept) and
 * still writes what was observed; a second one quits at once (exit 130). One scope per command,
 * installed before the cluster is acquired, so Ctrl-C during `kind create` still deletes it;
 * disposing it removes the handlers.
 */
export interface InterruptScopeProps {
  /** Told once, on the first signal. */
  readonly onInterrupt: (signal: NodeJS.Signals) => void;
  /** @default process.exit */
  readonly exit?: (code: number) => void;
  /** @default process */
  readonly target?: Pick<NodeJS.Process, 'on' | 'off'>;
}

export class InterruptScope implements Disposable {
  readonly #controller = new AbortController();
  readonly #props: InterruptScopeProps;
  readonly #target: Pick<NodeJS.Process, 'on' | 'off'>;
  #count = 0;
  readonly #handler = (signal: NodeJS.Signals): void => {
    this.#count += 1;
    if (this.#count > 1) {
      (this.#props.exit ?? ((code: number) => process.exit(code)))(130);
      return;
    }
    this.#props.onInterrupt(signal);
    this.#controller.abort();
  };

  constructor(props: InterruptScopeProps) {
    this.#props = props;
    this.#target = props.target ?? process;
    this.#target.on('SIGINT', this.#handler);
    this.#target.on('SIGTERM', this.#handler);
  }

  /** Aborted on the first signal. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  [Symbol.dispose](): void {
    this.#target.off('SIGINT', this.#handler);
    this.#target.off('SIGTERM', this.#handler);
  }
}
