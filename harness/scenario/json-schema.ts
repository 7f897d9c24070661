import { z } from 'zod';

import { ScenarioSchema } from './schema.js';

export const SCHEMA_ID = 'https://bulkhead.dev/schemas/scenario-v1alpha1.json';

/** The JSON Schema of the scenario language, for editors (yaml-language-server) and other tools. */
export function scenarioJsonSchema(): Record<string, unknown> {
  // `input`: what a person may write, so fields with defaults are optional.
  const schema = z.toJSONSchema(ScenarioSchema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  return { ...schema, $id: SCHEMA_ID };
}
