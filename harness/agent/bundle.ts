/**
 * Where the agent bundle lives and how it is built: one zero-dependency ES module for the
 * official Node images (22 and 24), made by esbuild from harness/agent/main.ts. `npm ci` builds
 * it through the `prepare` script; the harness can rebuild it on demand. Not part of the bundle.
 */
import { packageFile } from '../package-files.js';

/** The bundle's path: ignored by git, never committed. */
export const AGENT_BUNDLE = packageFile('dist/agent/bulkhead-agent.mjs');
const ENTRY = packageFile('harness/agent/main.ts');

/** Builds the bundle and returns its path. esbuild is a build-time dependency, loaded only here. */
export async function buildAgentBundle(outfile: string = AGENT_BUNDLE): Promise<string> {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // The oldest Node the pods may run; esbuild lowers anything newer.
    target: 'node22',
    // Node built-ins only: anything else failing to resolve must fail the build, not the pod.
    external: [],
    legalComments: 'none',
    logLevel: 'warning',
    banner: { js: '// bulkhead agent: built from harness/agent by scripts/build-agent.ts; do not edit.' },
  });
  return outfile;
}
