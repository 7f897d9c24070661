import type { Command } from 'commander';

import type { CliIo } from './io.js';

export function schemaCommand(program: Command, io: CliIo): void {
  program
    .command('schema')
    .description('print the JSON Schema of the scenario language (v1alpha1)')
    .addHelpText(
      'after',
      `
The committed copy is scenarios/scenario.schema.json; point your editor at it with a first line
  # yaml-language-server: $schema=../scenarios/scenario.schema.json

Example:
  $ bulkhead schema > scenario.schema.json`,
    )
    .action(async () => {
      const { scenarioJsonSchema } = await import('../scenario/json-schema.js');
      io.stdout(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
    });
}
