#!/usr/bin/env node
// The bulkhead command. Runs the compiled build in dist/ (made by `npm ci` and `npm run build`,
// shipped in the package), with no TypeScript loader. Two exceptions load tsx:
// - a checkout whose dist/ is missing or older than a source under harness/ or suites/ (an edit
//   not built yet) runs the TypeScript sources instead, so an edit never runs stale;
// - an argument naming a TypeScript file (`run --suite my.spec.ts`) registers tsx first, so
//   mocha can load the user's spec.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildIsCurrent } from './build-state.js';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(
    `bulkhead needs Node.js >= 22.22; this is ${process.version}. ` +
      'Install a newer Node, or source scripts/ensure-node.sh from a checkout.\n',
  );
  process.exit(2);
}

// `bulkhead schema | head` closes the pipe early; that is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const compiled = buildIsCurrent(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
if (!compiled || process.argv.slice(2).some((arg) => /\.[cm]?tsx?$/.test(arg))) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main } = compiled
  ? await import('../dist/harness/cli/main.js')
  : await import('../harness/cli/main.ts');
process.exitCode = await main(process.argv);
