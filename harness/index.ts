/**
 * bulkhead's public API for users' own conformance suites (`bulkhead run --suite my.spec.ts`)
 * and for tools that read its reports. A suite reads the finished run and asserts with chai:
 *
 *   import { currentRun, expect } from 'bulkhead';
 *   describe('payments stay private', () => {
 *     it('globex cannot reach acme payments', () => {
 *       expect(currentRun().attempt('globex-to-acme-payment')).to.be.deniedAt('l7');
 *     });
 *   });
 *
 * `expect` is chai's, with bulkhead's assertions installed, so a suite needs no chai of its own;
 * `bulkheadChai` is the plugin for suites that bring their own chai.
 */
import { expect, use } from 'chai';

import { bulkheadChai } from '../suites/chai-bulkhead.js';

use(bulkheadChai);

export { expect };
export { bulkheadChai, HarnessFault, type DenyLayer } from '../suites/chai-bulkhead.js';
export { currentRun, RunUnderTest } from '../suites/context.js';
export { CATEGORY_TITLES } from '../suites/isolation.js';
export {
  OBSERVED_LAYERS,
  RESULTS_JSON_VERSION,
  ResultsDocumentSchema,
  type AttemptEntry,
  type ObservedLayer,
  type ResultsDocument,
} from './results/results-model.js';
export { readResultsFile } from './results/read-results.js';
export { diffResults, type AttemptChange, type ResultsDiff } from './report/diff.js';
export { verifyBundle, type BundleVerification } from './report/bundle.js';
export { CATEGORIES, OUTCOMES, type Category, type Outcome } from './scenario/outcomes.js';
