/**
 * The agent's result lines, coalesced: the lines written in one turn of the event loop leave in
 * one write. A round's answers tend to arrive together (every attempt of a batch against the
 * same slow backend ends in the same few milliseconds), and each write to a pipe is a system call
 * of its own (synchronous on Linux), which cost about a tenth of the agent's time per attempt.
 * The text goes out at `setImmediate`, still within the turn its lines were written in, so
 * results stream as before; {@link LineOutput.flush} sends what is left before the process exits.
 */
export interface LineOutput {
  /** Queues one line (newline included). */
  readonly write: (line: string) => void;
  /** Sends whatever is queued now. */
  readonly flush: () => void;
}

export function coalescedOutput(send: (text: string) => void): LineOutput {
  let queued: string[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): void => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (queued.length === 0) return;
    const text = queued.join('');
    queued = [];
    send(text);
  };
  return {
    write: (line) => {
      queued.push(line);
      scheduled ??= setImmediate(flush);
    },
    flush,
  };
}
