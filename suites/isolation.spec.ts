/**
 * The built-in suites as a spec file, for mocha's own command line over a saved run:
 *
 *   BULKHEAD_RESULTS=reports/<run>/results.json npm run suites [-- my-team.spec.ts]
 *
 * `bulkhead run` does not load this file: it defines the same suites through the mocha instance
 * it creates (suites/run-suites.ts). Spec files given after it read the same run via currentRun().
 */
import { describe, it } from 'mocha';

import { readResultsFile } from '../harness/results/read-results.js';
import { setCurrentRun } from './context.js';
import { defineIsolationSuites } from './isolation.js';

const file = process.env.BULKHEAD_RESULTS;
if (!file) throw new Error('set BULKHEAD_RESULTS to the results.json of a finished run');
const run = await readResultsFile(file);
setCurrentRun(run);
defineIsolationSuites(run, { describe, it });
