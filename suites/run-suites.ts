/**
 * Runs the conformance suites over a finished run with mocha's programmatic API: the built-in
 * suites (one it per attempt) and the user's spec files (`--suite`), which read the same run
 * through `currentRun()`. Nothing here touches a cluster; every attempt was made already.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

import Mocha from 'mocha';

import { UserError } from '../harness/errors.js';
import type { SuiteTestRecord } from '../harness/report/run-junit.js';
import type { ResultsDocument } from '../harness/results/results-model.js';
import { setCurrentRun } from './context.js';
import { ATTEMPT_OF_TEST, defineIsolationSuites, type SuiteInterface } from './isolation.js';
import { messageOf } from '../harness/values.js';

export interface SuiteRunProps {
  readonly run: ResultsDocument;
  /** The user's spec files (absolute, or relative to `cwd`). @default [] */
  readonly specFiles?: readonly string[];
  /** @default process.cwd() */
  readonly cwd?: string;
  /** Per-test timeout of the user's specs. @default 10000 */
  readonly timeoutMs?: number;
}

export interface BuiltinTestRecord {
  readonly attempt: string;
  readonly state: SuiteTestRecord['state'];
  readonly message?: string;
}

export interface SuiteRun {
  /** Tests of the built-in suites, by attempt. */
  readonly builtin: readonly BuiltinTestRecord[];
  /** Tests of the user's spec files. */
  readonly user: readonly SuiteTestRecord[];
  readonly failures: number;
  readonly passed: boolean;
}

function topSuite(runnable: Mocha.Runnable): string | undefined {
  let suite = runnable.parent;
  while (suite?.parent && !suite.parent.root) suite = suite.parent;
  return suite && !suite.root ? suite.title : undefined;
}

/** A mocha reporter that only collects: the reports are written from the result model. */
function collector(into: { builtin: BuiltinTestRecord[]; user: SuiteTestRecord[] }) {
  return class Collector extends Mocha.reporters.Base {
    constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
      super(runner, options);
      const record = (test: Mocha.Runnable, state: SuiteTestRecord['state'], error?: Error) => {
        const attempt = test instanceof Mocha.Test ? ATTEMPT_OF_TEST.get(test) : undefined;
        if (attempt !== undefined) {
          into.builtin.push({ attempt, state, ...(error ? { message: error.message } : {}) });
          return;
        }
        into.user.push({
          suite: topSuite(test) ?? path.basename(test.file ?? 'suite'),
          title: test.title,
          fullTitle: test.fullTitle(),
          ...(test.file ? { file: test.file } : {}),
          state,
          durationMs: test.duration ?? 0,
          ...(error
            ? {
                error: {
                  name: error.name,
                  message: error.message,
                  ...(error.stack ? { stack: error.stack } : {}),
                },
              }
            : {}),
        });
      };
      runner.on(Mocha.Runner.constants.EVENT_TEST_PASS, (t: Mocha.Test) => {
        record(t, 'passed');
      });
      runner.on(Mocha.Runner.constants.EVENT_TEST_PENDING, (t: Mocha.Test) => {
        record(t, 'pending');
      });
      runner.on(Mocha.Runner.constants.EVENT_TEST_FAIL, (t: Mocha.Runnable, error: unknown) => {
        record(t, 'failed', error instanceof Error ? error : new Error(String(error)));
      });
    }
  };
}

/**
 * The spec files as absolute paths; a missing one is the user's error. Call it before a run
 * starts, so a typo in `--suite` costs nothing.
 */
export function checkSuiteFiles(specFiles: readonly string[], cwd = process.cwd()): string[] {
  const files = specFiles.map((f) => path.resolve(cwd, f));
  const missing = files.find((f) => !existsSync(f));
  if (missing) throw new UserError(`--suite ${path.relative(cwd, missing) || missing}: no such file`);
  return files;
}

export async function runSuites(props: SuiteRunProps): Promise<SuiteRun> {
  const files = checkSuiteFiles(props.specFiles ?? [], props.cwd);

  const into = { builtin: [] as BuiltinTestRecord[], user: [] as SuiteTestRecord[] };
  const mocha = new Mocha({ reporter: collector(into), timeout: props.timeoutMs ?? 10_000 });
  mocha.cleanReferencesAfterRun(true);
  setCurrentRun(props.run);
  try {
    // The built-in suites are defined through the interface mocha hands this instance, not by
    // importing a spec file: a module is evaluated once per process, a run is not.
    const ui: Partial<SuiteInterface> = {};
    mocha.suite.emit(Mocha.Suite.constants.EVENT_FILE_PRE_REQUIRE, ui, 'bulkhead:isolation', mocha);
    if (!ui.describe || !ui.it) throw new Error("mocha's bdd interface did not set up describe and it");
    defineIsolationSuites(props.run, { describe: ui.describe, it: ui.it });

    for (const f of files) mocha.addFile(f);
    try {
      await mocha.loadFilesAsync();
    } catch (error) {
      throw new UserError(`a --suite file could not be loaded: ${messageOf(error)}`);
    }
    const failures = await new Promise<number>((resolve) => {
      mocha.run(resolve);
    });
    return { builtin: into.builtin, user: into.user, failures, passed: failures === 0 };
  } finally {
    setCurrentRun(undefined);
    mocha.dispose();
  }
}
