/**
 * SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), what code-scanning UIs such as
 * GitHub's read: one run of one tool, its rules, and results located in files by URI and region.
 */

export type SarifLevel = 'error' | 'warning' | 'note' | 'none';

export interface SarifRule {
  readonly id: string;
  /** One line. */
  readonly summary: string;
  /** Why it matters. */
  readonly help: string;
  readonly defaultLevel: SarifLevel;
  readonly helpUri?: string;
}

export interface SarifResult {
  readonly ruleId: string;
  readonly level: SarifLevel;
  readonly message: string;
  /** A path (relative paths are resolved against the run's base, `%SRCROOT%`) or a URI such as `builtin:article`. */
  readonly file: string;
  /** 1-based; 0 or absent when unknown. */
  readonly line?: number;
  readonly column?: number;
  /** Extra key/values carried in the result's property bag (the fix hint, the object). */
  readonly properties?: Readonly<Record<string, unknown>>;
}

export interface SarifRun {
  readonly tool: {
    readonly name: string;
    readonly version: string;
    readonly informationUri?: string;
    readonly rules: readonly SarifRule[];
  };
  readonly results: readonly SarifResult[];
}

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

/** A file path as a SARIF artifact URI: forward slashes, percent-encoded; URIs with a scheme kept. */
export function artifactUri(file: string): { uri: string; uriBaseId?: string } {
  if (/^[a-z][a-z0-9+.-]*:/i.test(file) && !/^[a-z]:[\\/]/i.test(file)) return { uri: file };
  const posix = file.replace(/\\/g, '/');
  const encoded = posix
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
  if (posix.startsWith('/')) return { uri: `file://${encoded}` };
  return { uri: encoded, uriBaseId: '%SRCROOT%' };
}

/** The run as a SARIF 2.1.0 log (JSON text). */
export function renderSarif(run: SarifRun): string {
  const ruleIndex = new Map(run.tool.rules.map((r, i) => [r.id, i]));
  const log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: run.tool.name,
            version: run.tool.version,
            ...(run.tool.informationUri ? { informationUri: run.tool.informationUri } : {}),
            rules: run.tool.rules.map((r) => ({
              id: r.id,
              shortDescription: { text: r.summary },
              fullDescription: { text: r.help },
              help: { text: r.help },
              defaultConfiguration: { level: r.defaultLevel },
              ...(r.helpUri ? { helpUri: r.helpUri } : {}),
            })),
          },
        },
        columnKind: 'unicodeCodePoints',
        results: run.results.map((r) => {
          const index = ruleIndex.get(r.ruleId);
          const region =
            r.line !== undefined && r.line > 0
              ? {
                  startLine: r.line,
                  ...(r.column !== undefined && r.column > 0 ? { startColumn: r.column } : {}),
                }
              : undefined;
          return {
            ruleId: r.ruleId,
            ...(index === undefined ? {} : { ruleIndex: index }),
            level: r.level,
            message: { text: r.message },
            locations: [
              {
                physicalLocation: {
                  artifactLocation: artifactUri(r.file),
                  ...(region ? { region } : {}),
                },
              },
            ],
            ...(r.properties ? { properties: r.properties } : {}),
          };
        }),
      },
    ],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
