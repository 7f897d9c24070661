/**
 * The functions and constants a command file needs from heavy modules, with the modules loaded
 * on the first call instead of when the command is defined: the scenario loader (zod, yaml),
 * the results readers (zod) and the bundle (tar). Defining every command, which `--version`,
 * `--help` and any one command do, then loads none of them. Each function has its module's
 * type, and each constant its module's literal type, so a change there fails the typecheck here.
 */
import type * as Bundle from '../report/bundle.js';
import type * as ReadResults from '../results/read-results.js';
import type * as Records from '../results/records.js';
import type * as Loader from '../scenario/loader.js';

export const loadScenarioFile: typeof Loader.loadScenarioFile = async (file) =>
  (await import('../scenario/loader.js')).loadScenarioFile(file);

export const readResultsFile: typeof ReadResults.readResultsFile = async (file, shownAs) =>
  (await import('../results/read-results.js')).readResultsFile(file, shownAs);

export const readResultsRecords: typeof Records.readResultsRecords = async (file, shownAs) =>
  (await import('../results/records.js')).readResultsRecords(file, shownAs);

/** The name of a run's log, results.jsonl. */
export const RESULTS_LOG: typeof Records.RESULTS_LOG = 'results.jsonl';

export const verifyBundle: typeof Bundle.verifyBundle = async (file) =>
  (await import('../report/bundle.js')).verifyBundle(file);

/** The bundle's checksum list, named in verify-bundle's description. */
export const MANIFEST_NAME: typeof Bundle.MANIFEST_NAME = 'SHA256SUMS';
