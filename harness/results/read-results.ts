/**
 * Reading a `results.json` someone hands bulkhead (`bulkhead diff`, a bundle): checked against
 * the versioned schema, every problem reported with file, line and field, never half-read.
 */
import { InputError, type Problem } from '../errors.js';
import { readInputFile } from '../input-file.js';
import { parseYaml } from '../yaml-source.js';
import { RESULTS_JSON_VERSION, ResultsDocumentSchema, type ResultsDocument } from './results-model.js';

/** results.json of the largest runs (20,000 attempts with their evidence) fits well within this. */
const MAX_RESULTS_BYTES = 256 * 2 ** 20;

export async function readResultsFile(file: string, shownAs = file): Promise<ResultsDocument> {
  // The one input reader: a regular file, within its size, UTF-8 without NUL, before parsing.
  const text = await readInputFile(file, {
    shownAs,
    maxBytes: MAX_RESULTS_BYTES,
    describe: (why) => (why === 'no such file or directory' ? 'no such file' : `cannot read it (${why})`),
  });
  return parseResults(text, shownAs);
}

export function parseResults(text: string, file: string): ResultsDocument {
  const fail = (problems: readonly Problem[]): never => {
    throw new InputError(problems);
  };
  // JSON is YAML: the YAML parser gives positions for every field, so problems point at lines.
  // A 20,000-attempt run is about 2 million values: above the YAML layer's default for hand-written files.
  const parsed = parseYaml(text, file, 0, { maxNodes: 4_000_000 });
  if (!parsed.ok) return fail(parsed.problems);
  const doc = parsed.documents[0];
  if (!doc || parsed.documents.length !== 1)
    return fail([{ file, line: 0, column: 0, path: '', message: 'expected one JSON document' }]);
  const value = doc.value();
  const v = (value as { v?: unknown } | null)?.v;
  if (
    typeof value !== 'object' ||
    value === null ||
    (value as { kind?: unknown }).kind !== 'bulkhead-results'
  )
    return fail([doc.problem([], 'not a bulkhead results.json (kind is not "bulkhead-results")')]);
  if (v !== RESULTS_JSON_VERSION)
    return fail([
      doc.problem(
        ['v'],
        `results.json version ${String(v)} is not supported (this bulkhead reads ${RESULTS_JSON_VERSION})`,
      ),
    ]);
  const checked = ResultsDocumentSchema.safeParse(value);
  if (!checked.success) {
    return fail(
      checked.error.issues.slice(0, 20).map((i) =>
        doc.problem(
          i.path.filter((p) => typeof p !== 'symbol'),
          i.message,
        ),
      ),
    );
  }
  return checked.data;
}
