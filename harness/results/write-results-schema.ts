/** Writes the committed JSON Schema of results.json from the zod schema (`npm run schema:results`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { resultsJsonSchema } from './results-model.js';

export const RESULTS_SCHEMA_FILE = fileURLToPath(
  new URL('./schemas/results.v1.schema.json', import.meta.url),
);

export function resultsSchemaText(): string {
  return JSON.stringify(resultsJsonSchema(), null, 2) + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  writeFileSync(RESULTS_SCHEMA_FILE, resultsSchemaText());
