/**
 * Everything a finished run leaves in its folder: results.json, junit.xml (the attempts and the
 * conformance suites' tests), report.html, and on request the evidence bundle. A renderer: it
 * takes the results document and the suites' outcome as they are and writes them; it runs
 * nothing, reads no cluster and renders no policies (harness/run/report-run.ts gathers them).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { stringify } from 'yaml';

import type { ResultsDocument } from '../results/results-model.js';
import { writeBundle, type BundleFile, type WrittenBundle } from './bundle.js';
import { renderHtmlReport } from './html.js';
import { runJUnit, type SuiteTestRecord } from './run-junit.js';
import { sha256 } from '../values.js';

export const REPORT_FILES = {
  json: 'results.json',
  junit: 'junit.xml',
  html: 'report.html',
} as const;

export interface WriteRunReportsProps {
  readonly document: ResultsDocument;
  /** The tests of the user's suites (`--suite`), for junit.xml after the attempts. @default none */
  readonly userTests?: readonly SuiteTestRecord[];
  /** Where the reports go. */
  readonly directory: string;
  /** The run's results.jsonl, for the bundle. @default none */
  readonly resultsLog?: string;
  /** The scenario file, for the bundle. @default none */
  readonly scenarioFile?: string;
  /** The policy objects as the cluster stored them, for the bundle; undefined: the run applied none. */
  readonly manifests?: readonly Readonly<Record<string, unknown>>[];
  /**
   * The cluster's own policy objects the run read before judging (`cluster:Kind/namespace/name`
   * and the object as read), for the bundle; undefined: the run did not read them (or its records
   * predate keeping them).
   */
  readonly clusterPolicies?: readonly {
    readonly id: string;
    readonly object: Readonly<Record<string, unknown>>;
  }[];
  /** Write `bulkhead-<run>.tar.gz` (and its `.sha256`) too. @default false */
  readonly bundle?: boolean;
  /** Test files in junit.xml are named relative to this folder. @default process.cwd() */
  readonly cwd?: string;
  /** Extra text files for the bundle's `logs/` (name → text), e.g. the progress transcript. */
  readonly logs?: Readonly<Record<string, string>>;
}

export interface RunReports {
  /** Absolute paths of the files written. */
  readonly files: string[];
  readonly bundle?: WrittenBundle;
}

export async function writeRunReports(props: WriteRunReportsProps): Promise<RunReports> {
  const { document, directory } = props;
  const json = JSON.stringify(document, null, 2) + '\n';
  const junit = runJUnit(document, props.userTests ?? [], { relativeTo: props.cwd ?? process.cwd() });
  const html = renderHtmlReport({
    document,
    files: [
      { name: REPORT_FILES.json, sha256: sha256(json) },
      { name: REPORT_FILES.junit, sha256: sha256(junit) },
    ],
  });
  await mkdir(directory, { recursive: true });
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
    const manifests = props.manifests ?? [];
    const log = props.resultsLog;
    const scenarioFile = props.scenarioFile;
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
                ? 'as the cluster stored them after the run applied them'
                : 'none: the run stopped before it applied any policy',
              clusterPoliciesSource: props.clusterPolicies
                ? `${props.clusterPolicies.length} policy object(s) the cluster held that the run did not write, read-only copies as the cluster returned them before round 1 (managedFields left out)`
                : "none: the run did not read the cluster's own policies",
            },
            null,
            2,
          ) + '\n',
      },
      { name: `results/${REPORT_FILES.json}`, content: json },
      ...(log && existsSync(log) ? [{ name: 'results/results.jsonl', content: await readFile(log) }] : []),
      { name: `reports/${REPORT_FILES.junit}`, content: junit },
      { name: `reports/${REPORT_FILES.html}`, content: html },
      { name: 'versions.json', content: JSON.stringify(document.versions, null, 2) + '\n' },
      ...(scenarioFile && existsSync(scenarioFile)
        ? [
            {
              name: `scenario/${safeName(path.basename(scenarioFile))}`,
              content: await readFile(scenarioFile),
            },
          ]
        : []),
      {
        name: 'manifests/policies.yaml',
        content: manifests.map((m) => stringify(m)).join('---\n'),
      },
      ...(props.clusterPolicies
        ? [{ name: CLUSTER_POLICIES_FILE, content: clusterPoliciesText(props.clusterPolicies) }]
        : []),
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
  return { files: written, ...(bundle ? { bundle } : {}) };
}

/** Where the bundle keeps the cluster's own policy objects (covered by SHA256SUMS like every file). */
export const CLUSTER_POLICIES_FILE = 'manifests/cluster-policies.yaml';

/**
 * One YAML document per object, each after a comment naming it as the results do
 * (`cluster:Kind/namespace/name`) and the SHA-256 of its JSON as recorded in results.jsonl's
 * `cluster-policies` record, so each copy can be matched to the record it came from.
 */
function clusterPoliciesText(objects: NonNullable<WriteRunReportsProps['clusterPolicies']>): string {
  if (objects.length === 0)
    return "# the run read the cluster's policies and found none it did not write itself\n";
  return objects
    .map(
      ({ id, object }) =>
        `# ${id.replace(/[\r\n]/g, ' ')}\n# sha256 of its JSON: ${sha256(JSON.stringify(object))}\n${stringify(object)}`,
    )
    .join('---\n');
}

function safeName(name: string): string {
  return name.replace(/[^\w.@+-]/g, '_').replace(/^\.+/, '_');
}
