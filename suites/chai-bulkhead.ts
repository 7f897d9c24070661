/**
 * chai assertions over a judged attempt (an entry of results.json), with messages that say what
 * was expected, what was observed, at which layer, and the evidence:
 *
 *   use(bulkheadChai);
 *   expect(run.attempt('globex-to-acme-api')).to.be.deniedAt('l7');
 *   expect(run.attempt('acme-frontend-to-api')).to.be.allowed();
 *   expect(entry).to.holdItsExpectation();
 *
 * An attempt the harness could not judge (verdict `error`) never satisfies an assertion: it
 * throws a HarnessFault, which reports count as an error, not as a failed isolation check.
 */
import { evidenceLines, verdictMessage } from '../harness/results/describe.js';
import { LAYER_NAMES } from '../harness/results/layers.js';
import type { AttemptEntry, ObservedLayer } from '../harness/results/results-model.js';
import { GRANTED_OUTCOMES } from '../harness/scenario/outcomes.js';

export type DenyLayer = Exclude<ObservedLayer, 'none'>;

declare global {
  // chai's typings are a global namespace; plugins extend it by declaration merging.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Chai {
    interface Assertion {
      /** Refused at this layer in every round that counts, with no leak. */
      deniedAt(layer: DenyLayer): Assertion;
      /** Refused at any layer, with no leak. */
      denied(): Assertion;
      /** Got through: allowed, resolved or api-allowed. */
      allowed(): Assertion;
      /** The verdict the runner gave is pass (its expectation held, converged, no leak). */
      holdItsExpectation(): Assertion;
    }
  }
}

/** Thrown for an attempt that could not be judged: a harness or environment fault, not a verdict. */
export class HarnessFault extends Error {
  override readonly name = 'HarnessFault';
}

function isEntry(value: unknown): value is AttemptEntry {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AttemptEntry).id === 'string' &&
    typeof (value as AttemptEntry).outcome === 'string' &&
    Array.isArray((value as AttemptEntry).observations)
  );
}

function entryOf(value: unknown): AttemptEntry {
  if (!isEntry(value)) {
    throw new TypeError(
      `expected an attempt result (run.attempt(id)), got ${value === undefined ? 'undefined (no such attempt?)' : typeof value}`,
    );
  }
  if (value.verdict === 'error' || value.verdict === 'skipped' || value.verdict === 'not-judged') {
    throw new HarnessFault(`${value.id}: ${verdictMessage(value)}`);
  }
  return value;
}

/** The observed side of a message: outcome, layer, rounds and the first evidence lines. */
function observed(a: AttemptEntry): string {
  const evidence = evidenceLines(a.evidence).slice(0, 4).join('; ');
  return (
    `observed ${a.outcome} (${LAYER_NAMES[a.layer]}) over ${a.rounds} round(s)` +
    (a.leak ? ', including an allowed round (leak)' : '') +
    `; scenario expects ${a.expect}` +
    (evidence ? `; evidence: ${evidence}` : '')
  );
}

const granted = (a: AttemptEntry) => GRANTED_OUTCOMES.includes(a.outcome) || a.outcome === 'resolved';

export const bulkheadChai: Chai.ChaiPlugin = (chai) => {
  const { Assertion } = chai;

  Assertion.addMethod('deniedAt', function (this: Chai.AssertionStatic, layer: DenyLayer) {
    const a = entryOf(this._obj);
    const ok = !a.leak && !granted(a) && a.layer === layer;
    this.assert(
      ok,
      `expected ${a.id} to be denied at ${LAYER_NAMES[layer]}, but ${observed(a)}`,
      `expected ${a.id} not to be denied at ${LAYER_NAMES[layer]}, but ${observed(a)}`,
      layer,
      a.layer,
    );
  });

  Assertion.addMethod('denied', function (this: Chai.AssertionStatic) {
    const a = entryOf(this._obj);
    this.assert(
      !a.leak && !granted(a),
      `expected ${a.id} to be denied, but ${observed(a)}`,
      `expected ${a.id} not to be denied, but ${observed(a)}`,
      'denied',
      a.outcome,
    );
  });

  Assertion.addMethod('allowed', function (this: Chai.AssertionStatic) {
    const a = entryOf(this._obj);
    this.assert(
      granted(a),
      `expected ${a.id} to be allowed, but ${observed(a)}`,
      `expected ${a.id} not to be allowed, but ${observed(a)}`,
      'allowed',
      a.outcome,
    );
  });

  Assertion.addMethod('holdItsExpectation', function (this: Chai.AssertionStatic) {
    const a = entryOf(this._obj);
    this.assert(
      a.verdict === 'pass',
      `${a.id}: ${verdictMessage(a)}; ${observed(a)}`,
      `expected ${a.id} not to hold its expectation, but it did: ${verdictMessage(a)}`,
      a.expect,
      a.outcome,
    );
  });
};
