/**
 * A run's reports from its records: results.jsonl read back and folded into results.json
 * (harness/results/build-results.ts), the conformance suites run over it, then JUnit, HTML and
 * on request the bundle written. The same path serves a run that has just ended, a phase of an
 * upgrade check, and `bulkhead report` over the log of a run that crashed. It talks to no
 * cluster.
 */
import path from 'node:path';

import type { Finding } from '../lint/types.js';
import type { PlannedAttempt } from '../model/plan.js';
import { writeRunReports, type RunReports } from '../report/run-reports.js';
import { buildResults } from '../results/build-results.js';
import {
  RESULTS_LOG,
  readResultsRecords,
  type ClusterPoliciesRecord,
  type PoliciesRecord,
  type ReadRecords,
  type RunEnvironment,
} from '../results/records.js';
import type { ResultsDocument } from '../results/results-model.js';
import type { Scenario } from '../scenario/types.js';
import { runSuites, type SuiteRun } from '../../suites/run-suites.js';
import { VERSION } from '../version.js';

export interface ReportRunProps {
  /** The run folder holding results.jsonl. */
  readonly directory: string;
  readonly scenario: Scenario;
  /** Where the reports go. @default `directory` */
  readonly out?: string;
  /** What to say over the run record's environment (an upgrade phase's observed Istio). */
  readonly environment?: RunEnvironment;
  /** The user's spec files (`--suite`), relative to `cwd`. @default [] */
  readonly suites?: readonly string[];
  /** @default process.cwd() */
  readonly cwd?: string;
  /** Write the evidence bundle too. @default false */
  readonly bundle?: boolean;
  /** Extra text files for the bundle's `logs/`. */
  readonly logs?: Readonly<Record<string, string>>;
  /** The model's predictions (and ablation) for the same attempts, when `plan` ran first. */
  readonly predictions?: readonly PlannedAttempt[];
  /** Lint findings on the policies, shown in the HTML report. */
  readonly lint?: readonly Finding[];
  /** The log's records, when the caller has read them already. @default read from `directory` */
  readonly records?: ReadRecords;
}

export interface ReportedRun extends RunReports {
  readonly document: ResultsDocument;
  readonly suites: SuiteRun;
  /** True when every built-in and user suite test passed. */
  readonly suitesPassed: boolean;
  /** True when the log's last line was cut off mid-write (a crash) and was left out. */
  readonly torn: boolean;
}

export async function reportRun(props: ReportRunProps): Promise<ReportedRun> {
  const log = path.join(props.directory, RESULTS_LOG);
  const { records, torn } = props.records ?? (await readResultsRecords(log));
  const document = buildResults({
    records,
    scenario: props.scenario,
    version: VERSION,
    ...(props.environment ? { environment: props.environment } : {}),
    ...(props.predictions ? { predictions: props.predictions } : {}),
    ...(props.lint ? { lint: props.lint } : {}),
  });
  // A user's suite that cannot be loaded must not cost the run its reports: they are written
  // from the results first, and the error is raised afterwards.
  let suiteError: Error | undefined;
  const suites: SuiteRun = await runSuites({
    run: document,
    specFiles: props.suites ?? [],
    ...(props.cwd ? { cwd: props.cwd } : {}),
  }).catch((error: unknown) => {
    suiteError = error instanceof Error ? error : new Error(String(error));
    return { builtin: [], user: [], failures: 1, passed: false };
  });
  const applied = records.findLast((r): r is PoliciesRecord => r.type === 'policies')?.applied;
  const foreign = records.findLast((r): r is ClusterPoliciesRecord => r.type === 'cluster-policies');
  const written = await writeRunReports({
    document,
    userTests: suites.user,
    directory: props.out ?? props.directory,
    resultsLog: log,
    scenarioFile: props.scenario.file,
    ...(applied ? { manifests: applied } : {}),
    ...(foreign?.read
      ? {
          clusterPolicies: foreign.read.map((object, i) => ({ id: foreign.objects[i] ?? '', object })),
        }
      : {}),
    ...(props.bundle ? { bundle: true } : {}),
    ...(props.cwd ? { cwd: props.cwd } : {}),
    ...(props.logs ? { logs: props.logs } : {}),
  });
  if (suiteError !== undefined) throw suiteError;
  return { ...written, document, suites, suitesPassed: suites.passed, torn };
}
