/// <reference types="mocha" preserve="true" />
/**
 * `bulkhead/suite`: what a user's own conformance suite imports (`bulkhead run --suite
 * my.spec.ts`). A suite reads the finished run and asserts with chai:
 *
 *   import { currentRun, expect } from 'bulkhead/suite';
 *   describe('payments stay private', () => {
 *     it('globex cannot reach acme payments', () => {
 *       expect(currentRun().attempt('globex-to-acme-payment')).to.be.deniedAt('l7');
 *     });
 *   });
 *
 * Importing this module installs bulkhead's assertions on chai (its one side effect), so
 * `expect` is chai's with them and a suite needs no chai of its own; `bulkheadChai` is the plugin
 * for suites that bring their own chai. The types of mocha's describe/it come with it.
 */
import { expect, use } from 'chai';

import { bulkheadChai } from '../suites/chai-bulkhead.js';

use(bulkheadChai);

export { expect };
export { bulkheadChai, HarnessFault, type DenyLayer } from '../suites/chai-bulkhead.js';
export { currentRun, RunUnderTest } from '../suites/context.js';
export { CATEGORY_TITLES } from '../suites/isolation.js';
export type { AttemptEntry, ObservedLayer, ResultsDocument } from './results/results-model.js';
export type { Category, Outcome } from './scenario/outcomes.js';
