/** Writes the committed JSON Schema of results.json from the zod schema (`npm run schema:results`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { packageFile } from '../package-files.js';
import { resultsJsonSchema } from './results-model.js';

export const RESULTS_SCHEMA_FILE = packageFile('harness/results/schemas/results.v1.schema.json');

export function resultsSchemaText(): string {
  return JSON.stringify(resultsJsonSchema(), null, 2) + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  writeFileSync(RESULTS_SCHEMA_FILE, resultsSchemaText());
