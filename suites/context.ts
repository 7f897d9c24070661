/**
 * The run the suites assert on: a finished run's results.json, set before mocha loads any spec.
 * Attempts are never made from a spec: the runner made them in concurrent batches already, and
 * the suites only judge what was observed.
 */
import { suggest } from '../harness/errors.js';
import type { AttemptEntry, ResultsDocument } from '../harness/results/results-model.js';
import type { Category } from '../harness/scenario/outcomes.js';

export class RunUnderTest {
  readonly document: ResultsDocument;
  private readonly byId: ReadonlyMap<string, AttemptEntry>;

  constructor(document: ResultsDocument) {
    this.document = document;
    this.byId = new Map(document.attempts.map((a) => [a.id, a]));
  }

  /** The judged attempt with this id; an unknown id throws, naming the closest one. */
  attempt(id: string): AttemptEntry {
    const found = this.byId.get(id);
    if (found) return found;
    const close = suggest(id, this.byId.keys());
    throw new Error(
      `no attempt '${id}' in run ${this.document.run.id}${close ? ` (did you mean '${close}'?)` : ''}`,
    );
  }

  attempts(filter: { category?: Category; from?: string; to?: string } = {}): AttemptEntry[] {
    return this.document.attempts.filter(
      (a) =>
        (filter.category === undefined || a.category === filter.category) &&
        (filter.from === undefined ||
          `${a.from.namespace}/${a.from.name}` === filter.from ||
          a.from.namespace === filter.from) &&
        (filter.to === undefined ||
          (a.to !== undefined &&
            (`${a.to.namespace}/${a.to.name}` === filter.to || a.to.namespace === filter.to))),
    );
  }
}

/**
 * Kept on globalThis under a registered symbol: a user's spec may load bulkhead's modules through
 * another module system (CommonJS under a loader) and so get its own copy of this module; the
 * run under test must still be the one.
 */
const CURRENT = Symbol.for('bulkhead.currentRun');
const holder = globalThis as { [CURRENT]?: RunUnderTest };

export function setCurrentRun(document: ResultsDocument | undefined): void {
  holder[CURRENT] = document ? new RunUnderTest(document) : undefined;
}

/** The run being asserted on; throws outside `bulkhead run` (or a suite runner that set it). */
export function currentRun(): RunUnderTest {
  const current = holder[CURRENT];
  if (!current)
    throw new Error('no bulkhead run is under test: suites run inside `bulkhead run --suite <file>`');
  return current;
}
