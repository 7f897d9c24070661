/**
 * Builds dist/ (`npm run build`, and `prepare` on `npm ci` and `npm pack`): the harness and the
 * suites compiled by tsc with their type declarations (tsconfig.build.json: dist/harness,
 * dist/suites, one .js and one .d.ts per source), then the agent bundle (esbuild,
 * dist/agent/bulkhead-agent.mjs). The compiled folders are emptied first, so a source that was
 * removed or renamed leaves no module behind.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';

import { AGENT_BUNDLE, buildAgentBundle } from '../harness/agent/bundle.js';
import { packageFile } from '../harness/package-files.js';

const started = performance.now();
for (const dir of ['dist/harness', 'dist/suites']) rmSync(packageFile(dir), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', packageFile('tsconfig.build.json')], { stdio: 'inherit' });
} catch {
  process.stderr.write('build: tsc failed (above); dist/ is incomplete\n');
  process.exit(1);
}
await buildAgentBundle(AGENT_BUNDLE);
process.stdout.write(
  `build: dist/harness, dist/suites and ${AGENT_BUNDLE} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
);
