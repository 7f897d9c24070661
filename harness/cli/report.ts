/**
 * `bulkhead report <run>/results.jsonl`: writes a run's reports again from its records, the way
 * the run itself writes them (harness/run/report-run.ts). For a run that crashed or was killed
 * before it wrote them, for reports after an upgrade of bulkhead's renderers, or with your own
 * `--suite` files added later. Talks to no cluster.
 */
import { statSync } from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { UserError } from '../errors.js';
import { resultTable, runSummary } from '../report/run-table.js';
import type { RunRecord } from '../results/records.js';
import { loadScenarioFile, readResultsRecords, RESULTS_LOG } from './lazy.js';
import { CommandExit, type CliIo } from './io.js';
import { addEvidenceOptions, anchorBundle, evidenceSettings, type EvidenceOptions } from './evidence.js';

interface ReportOptions extends EvidenceOptions {
  readonly file?: string;
  readonly out?: string;
  readonly suite?: readonly string[];
  readonly bundle: boolean;
}

export function reportCommand(program: Command, io: CliIo): void {
  const command = program
    .command('report')
    .description("write a run's reports (results.json, junit.xml, report.html) from its results.jsonl")
    .argument('<results>', "the run's results.jsonl, or the run folder holding it")
    .option(
      '-f, --file <scenario.yaml>',
      'the scenario the run used (default: the file its run record names)',
    )
    .option('--out <dir>', 'where the reports go (default: the folder of results.jsonl)')
    .option('--suite <spec...>', 'your own mocha spec files, run over the results after the built-in suites')
    .option('--bundle', 'also write the evidence bundle (.tar.gz with a SHA-256 manifest)', false);
  addEvidenceOptions(command)
    .addHelpText(
      'after',
      `
The reports are a fold over the run's records and its scenario: the same log gives the same
results.json. An attempt the run did not get to judge (it was killed) is judged from its
observations with the run's own rule, and the run is reported as interrupted. The scenario must
be the one the run used: its SHA-256 is checked against the run record. With --bundle, the bundle's
SHA-256 is printed and written outside the report folder (--anchor) and to $GITHUB_STEP_SUMMARY when
set; --sign-key signs it.

Exit codes: 0 every expectation held; 1 an isolation expectation failed; 2 bad input, a fault in
the run, or a run that did not finish.

Examples:
  $ bulkhead report reports/20261201-101500-ab12/results.jsonl
  $ bulkhead report reports/20261201-101500-ab12 --suite my.spec.ts --bundle`,
    )
    .action(async (results: string, options: ReportOptions) => {
      const evidence = await evidenceSettings(options, io.cwd);
      const given = path.resolve(io.cwd, results);
      const log = isDirectory(given) ? path.join(given, RESULTS_LOG) : given;
      const { records, torn } = await readResultsRecords(log, path.relative(io.cwd, log) || log);
      const run = records[0] as RunRecord;
      const scenarioFile = path.resolve(io.cwd, options.file ?? run.scenarioFile);
      const scenario = await loadScenarioFile(scenarioFile);
      if (scenario.sha256 !== run.scenarioSha256)
        throw new UserError(
          `${path.relative(io.cwd, scenarioFile) || scenarioFile} is not the scenario run ${run.runId} used ` +
            `(SHA-256 ${scenario.sha256.slice(0, 12)}…, the run recorded ${run.scenarioSha256.slice(0, 12)}…); ` +
            'give the file the run used with -f',
        );
      const { reportRun } = await import('../run/report-run.js');
      const reports = await reportRun({
        directory: path.dirname(log),
        scenario,
        records: { records, torn },
        ...(options.out ? { out: path.resolve(io.cwd, options.out) } : {}),
        suites: options.suite ?? [],
        cwd: io.cwd,
        bundle: options.bundle,
      });
      if (torn)
        io.stderr('note: the last line of the log was cut off mid-write (a crash) and was left out\n');
      io.stdout(resultTable(reports.document.attempts));
      io.stdout(runSummary(reports.document, log, io.cwd));
      io.stdout(`reports: ${reports.files.map((f) => path.relative(io.cwd, f) || f).join(', ')}\n`);
      if (reports.bundle)
        await anchorBundle({
          bundle: reports.bundle,
          runId: reports.document.run.id,
          runDirectory: options.out ? path.resolve(io.cwd, options.out) : path.dirname(log),
          ...(options.anchor ? { anchor: options.anchor } : {}),
          ...evidence,
          io,
        });
      if (!reports.suitesPassed) io.stdout('the conformance suites had failures: see junit.xml\n');
      const code =
        reports.document.run.exitCode !== 0 ? reports.document.run.exitCode : reports.suitesPassed ? 0 : 1;
      if (code !== 0) throw new CommandExit(code);
    });
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}
