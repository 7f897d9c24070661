/**
 * Everything a finished run leaves in its folder: results.json (the input of every report),
 * junit.xml, report.html, and on request the evidence bundle. The conformance suites run first
 * (mocha, over the judged attempts, plus the user's `--suite` files) so the JUnit file carries
 * the user's tests too. Never talks to a cluster: it reads the RunResult and results.jsonl.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { stringify } from 'yaml';

import { packageRoot } from '../package-files.js';
import { VERSION } from '../version.js';
import type { PlannedAttempt } from '../model/plan.js';
import type { Finding } from '../lint/types.js';
import { renderPolicySources } from '../policies/render.js';
import type { RunResult } from '../run/runner.js';
import type { Scenario } from '../scenario/types.js';
import { runSuites, type SuiteRun } from '../../suites/run-suites.js';
import { buildResults, readResultsLog, type RunEnvironment } from '../results/build-results.js';
import { writeBundle, type BundleFile, type WrittenBundle } from './bundle.js';
import { renderHtmlReport } from './html.js';
import type { ResultsDocument } from '../results/results-model.js';
import { runJUnit } from './run-junit.js';
import { sha256 } from '../values.js';

export const REPORT_FILES = {
  json: 'results.json',
  junit: 'junit.xml',
  html: 'report.html',
} as const;

export interface WriteRunReportsProps {
  readonly result: RunResult;
  readonly scenario: Scenario;
  /** Where the reports go. @default result.directory (the run folder holding results.jsonl) */
  readonly directory?: string;
  readonly environment?: RunEnvironment;
  /** Write `bulkhead-<run>.tar.gz` (and its `.sha256`) too. @default false */
  readonly bundle?: boolean;
  /** The user's spec files (`--suite`), relative to `cwd`. @default [] */
  readonly suites?: readonly string[];
  /** @default process.cwd() */
  readonly cwd?: string;
  /** The model's predictions (and ablation) for the same attempts, when `plan` ran first. */
  readonly predictions?: readonly PlannedAttempt[];
  /** Lint findings on the policies, shown in the HTML report. */
  readonly lint?: readonly Finding[];
  /** The objects the run applied, for the bundle. @default the scenario's policies rendered again */
  readonly manifests?: readonly Readonly<Record<string, unknown>>[];
  /** Extra text files for the bundle's `logs/` (name → text), e.g. the progress transcript. */
  readonly logs?: Readonly<Record<string, string>>;
}

export interface RunReports {
  /** Absolute paths of the files written. */
  readonly files: string[];
  /** True when every built-in and user suite test passed. */
  readonly suitesPassed: boolean;
  readonly suites: SuiteRun;
  readonly document: ResultsDocument;
  readonly bundle?: WrittenBundle;
}

/** The commit of a git checkout at `root`, read from .git without running git. */
export function gitCommitAt(root: string): string | undefined {
  try {
    const head = readFileSync(path.join(root, '.git', 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    if (!ref) return undefined;
    const loose = path.join(root, '.git', ref);
    if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
    const packed = readFileSync(path.join(root, '.git', 'packed-refs'), 'utf8');
    return packed
      .split('\n')
      .find((l) => l.endsWith(` ${ref}`))
      ?.split(' ')[0];
  } catch {
    return undefined;
  }
}

const PACKAGE_ROOT = packageRoot();

export async function writeRunReports(props: WriteRunReportsProps): Promise<RunReports> {
  const { result, scenario } = props;
  const directory = props.directory ?? result.directory;
  const logFile = path.join(result.directory, 'results.jsonl');
  const log = existsSync(logFile) ? await readResultsLog(logFile) : [];
  const commit = props.environment?.versions?.gitCommit ?? gitCommitAt(PACKAGE_ROOT);
  const environment: RunEnvironment = {
    ...props.environment,
    versions: { ...props.environment?.versions, ...(commit ? { gitCommit: commit } : {}) },
  };
  const manifests = props.manifests ?? renderPolicySources(scenario).map((m) => m.object);
  const document = buildResults({
    result,
    scenario,
    log,
    environment,
    version: VERSION,
    ...(props.predictions ? { predictions: props.predictions } : {}),
    ...(props.lint ? { lint: props.lint } : {}),
    policies: manifests.map(objectName),
  });

  // A user's suite that cannot be loaded must not cost the run its reports: they are written
  // from the result model first, and the error is raised afterwards.
  let suiteError: Error | undefined;
  const suites: SuiteRun = await runSuites({
    run: document,
    specFiles: props.suites ?? [],
    ...(props.cwd ? { cwd: props.cwd } : {}),
  }).catch((error: unknown) => {
    suiteError = error instanceof Error ? error : new Error(String(error));
    return { builtin: [], user: [], failures: 1, passed: false };
  });

  const json = JSON.stringify(document, null, 2) + '\n';
  const junit = runJUnit(document, suites.user, { relativeTo: props.cwd ?? process.cwd() });
  const html = renderHtmlReport({
    document,
    files: [
      { name: REPORT_FILES.json, sha256: sha256(json) },
      { name: REPORT_FILES.junit, sha256: sha256(junit) },
    ],
  });
  const written: string[] = [];
  for (const [name, text] of [
    [REPORT_FILES.json, json],
    [REPORT_FILES.junit, junit],
    [REPORT_FILES.html, html],
  ] as const) {
    const file = path.join(directory, name);
    await writeFile(file, text);
    written.push(file);
  }

  let bundle: WrittenBundle | undefined;
  if (props.bundle) {
    const files: BundleFile[] = [
      {
        name: 'meta/run.json',
        content:
          JSON.stringify(
            {
              runId: document.run.id,
              createdAt: new Date().toISOString(),
              bulkhead: document.versions.bulkhead,
              gitCommit: document.versions.gitCommit ?? null,
              resultsSchema: `results.json v${document.v}`,
              manifestsSource: props.manifests
                ? 'as applied by the run'
                : "the scenario's policies, rendered again",
            },
            null,
            2,
          ) + '\n',
      },
      { name: `results/${REPORT_FILES.json}`, content: json },
      ...(log.length > 0 ? [{ name: 'results/results.jsonl', content: await readFile(logFile) }] : []),
      { name: `reports/${REPORT_FILES.junit}`, content: junit },
      { name: `reports/${REPORT_FILES.html}`, content: html },
      { name: 'versions.json', content: JSON.stringify(document.versions, null, 2) + '\n' },
      ...(existsSync(scenario.file)
        ? [
            {
              name: `scenario/${safeName(path.basename(scenario.file))}`,
              content: await readFile(scenario.file),
            },
          ]
        : []),
      {
        name: 'manifests/policies.yaml',
        content: manifests.map((m) => stringify(m)).join('---\n'),
      },
      ...Object.entries(props.logs ?? {}).map(([name, text]) => ({
        name: `logs/${safeName(name)}`,
        content: text,
      })),
    ];
    bundle = await writeBundle({
      file: path.join(directory, `bulkhead-${safeName(document.run.id)}.tar.gz`),
      root: `bulkhead-${safeName(document.run.id)}`,
      files,
    });
    const sumFile = `${bundle.file}.sha256`;
    await writeFile(sumFile, `${bundle.sha256}  ${path.basename(bundle.file)}\n`);
    written.push(bundle.file, sumFile);
  }
  if (suiteError !== undefined) throw suiteError;
  return { files: written, suitesPassed: suites.passed, suites, document, ...(bundle ? { bundle } : {}) };
}

function objectName(object: Readonly<Record<string, unknown>>): string {
  const metadata = (object.metadata ?? {}) as { namespace?: unknown; name?: unknown };
  const ns = typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : '';
  return `${typeof object.kind === 'string' ? object.kind : '?'} ${ns}${typeof metadata.name === 'string' ? metadata.name : '?'}`;
}

function safeName(name: string): string {
  return name.replace(/[^\w.@+-]/g, '_').replace(/^\.+/, '_');
}
