/**
 * `bulkhead`: bulkhead as a library, for tools that read its reports or predict without a
 * cluster. Importing it has no side effects: nothing is registered, installed or started.
 *
 *   import { loadScenarioFile, renderPolicySources, planAttempts } from 'bulkhead';
 *   const scenario = await loadScenarioFile('scenarios/hard-isolation.yaml');
 *   const manifests = renderPolicySources(scenario);
 *   for (const p of planAttempts({ ...scenario, manifests }, scenario.attempts))
 *     console.log(p.attempt.id, p.predicted.outcome);
 *
 *   import { readResultsFile, diffResults } from 'bulkhead';
 *   const changes = diffResults(await readResultsFile('before.json'), await readResultsFile('after.json'));
 *
 * A conformance suite imports `bulkhead/suite` instead (harness/suite.ts): chai's `expect` with
 * bulkhead's assertions, and `currentRun()`.
 */
import { Assertion, expect as chaiExpect, use } from 'chai';

import { bulkheadChai as plugin } from '../suites/chai-bulkhead.js';

// The results of a run: results.json (the model and its reader) and results.jsonl (the records).
export {
  OBSERVED_LAYERS,
  REPORT_VERDICTS,
  RESULTS_JSON_VERSION,
  ResultsDocumentSchema,
  resultsJsonSchema,
  type AblationEntry,
  type AttemptEntry,
  type LintEntry,
  type ObservedLayer,
  type ReportVerdict,
  type ResultsDocument,
} from './results/results-model.js';
export { parseResults, readResultsFile } from './results/read-results.js';
export {
  RESULTS_LOG,
  ResultsRecordSchema,
  parseResultsRecords,
  readResultsRecords,
  type ResultsRecord,
} from './results/records.js';
export {
  CHANGE_KINDS,
  diffResults,
  type AttemptChange,
  type ChangeKind,
  type ResultsDiff,
} from './report/diff.js';
export { MANIFEST_NAME, verifyBundle, type BundleVerification } from './report/bundle.js';

// Policy manifests: files and folders read with their positions, a scenario's sources rendered.
export { readManifestPaths } from './policies/read-manifests.js';
export { toManifests } from './policies/documents.js';
export { renderPolicySources } from './policies/render.js';
export type { ApiServerEndpoints, DnsEndpoints, RenderOptions } from './policies/options.js';

// The policy model and plan: predictions from the manifests alone.
export * from './model/index.js';

// The scenario language: loader, attempts, outcomes and categories.
export * from './scenario/index.js';

export { formatProblem, InputError, UserError, type Problem } from './errors.js';
export { VERSION } from './version.js';

// Suite helpers, kept here for suites written against bulkhead 0.1.0: import them from
// 'bulkhead/suite'. None of them does anything when this module is imported.
export {
  /** @deprecated import it from 'bulkhead/suite' */
  bulkheadChai,
  /** @deprecated import it from 'bulkhead/suite' */
  HarnessFault,
  /** @deprecated import it from 'bulkhead/suite' */
  type DenyLayer,
} from '../suites/chai-bulkhead.js';
export {
  /** @deprecated import it from 'bulkhead/suite' */
  currentRun,
  /** @deprecated import it from 'bulkhead/suite' */
  RunUnderTest,
} from '../suites/context.js';

let installed = false;
/**
 * Installs the assertions on chai once. A chai that has them already, from another copy of
 * bulkhead in the same process (the sources and the build, as the project's own tests load
 * them), keeps those: a second copy would replace them, and with them the HarnessFault class
 * the first copy's users test for.
 */
function install(): void {
  if (installed) return;
  installed = true;
  if (!('deniedAt' in Assertion.prototype)) use(plugin);
}

/**
 * chai's `expect` with bulkhead's assertions, installed on first use rather than on import.
 * @deprecated import `expect` from 'bulkhead/suite'
 */
export const expect: typeof chaiExpect = new Proxy(chaiExpect, {
  apply(target, self, args: Parameters<typeof chaiExpect>) {
    install();
    return Reflect.apply(target, self, args);
  },
  get(target, key, receiver) {
    install();
    return Reflect.get(target, key, receiver) as unknown;
  },
});
