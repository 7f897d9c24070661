/**
 * The built-in conformance suites: one describe per attempt category, one it per attempt of
 * the scenario, each asserting that the attempt held its expectation. Defined through the
 * describe/it a mocha instance hands out, so a process can run them for several runs.
 */
import { expect, use } from 'chai';

import { attemptTitle } from '../harness/results/describe.js';
import type { ResultsDocument } from '../harness/results/results-model.js';
import { CATEGORIES, type Category } from '../harness/scenario/outcomes.js';
import { bulkheadChai } from './chai-bulkhead.js';

use(bulkheadChai);

export const CATEGORY_TITLES: Readonly<Record<Category, string>> = {
  'cross-tenant': 'cross-tenant isolation',
  'intra-tenant': 'intra-tenant access',
  'header-spoof': 'identity header spoofing',
  plaintext: 'plaintext and mTLS',
  'dns-recon': 'DNS reconnaissance',
  'api-token': 'Kubernetes API with the pod token',
  'shared-services': 'shared services',
  node: 'the node and its kubelet',
  metadata: 'the cloud metadata service',
  egress: 'egress outside the cluster',
  'pod-ip': 'other tenants by pod IP',
  gateway: "other tenants' backends through an ingress gateway",
};

/** The describe/it pair of the mocha interface in use. */
export interface SuiteInterface {
  readonly describe: (title: string, fn: () => void) => unknown;
  readonly it: (title: string, fn: (this: Mocha.Context) => void) => Mocha.Test;
}

/** Which attempt each built-in test asserts on. */
export const ATTEMPT_OF_TEST = new WeakMap<Mocha.Test, string>();

export function defineIsolationSuites(run: ResultsDocument, ui: SuiteInterface): void {
  for (const category of CATEGORIES) {
    const attempts = run.attempts.filter((a) => a.category === category);
    if (attempts.length === 0) continue;
    ui.describe(`${category}: ${CATEGORY_TITLES[category]}`, () => {
      for (const a of attempts) {
        const test = ui.it(attemptTitle(a), function () {
          if (a.verdict === 'skipped' || a.verdict === 'not-judged') this.skip();
          expect(a).to.holdItsExpectation();
        });
        ATTEMPT_OF_TEST.set(test, a.id);
      }
    });
  }
}
