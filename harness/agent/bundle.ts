/**
 * Where the agent bundle lives and how it is built: one zero-dependency ES module for the
 * official Node images (22.3 and later, and 24), made by esbuild from harness/agent/main.ts. `npm ci` builds
 * it through the `prepare` script; the harness can rebuild it on demand. Not part of the bundle.
 */
import { packageFile } from '../package-files.js';

/** The bundle's path: ignored by git, never committed. */
export const AGENT_BUNDLE = packageFile('dist/agent/bulkhead-agent.mjs');
const ENTRY = packageFile('harness/agent/main.ts');

/**
 * V8's explicit compile hint (v8.dev/blog/explicit-compile-hints; V8 13.6, Node 24; older V8
 * ignores it as a comment): compile every function as the file loads, instead of parsing the
 * file lightly and each function again at its first call. An agent session runs each function
 * only a few dozen times in all. Interleaved runs of bench:agent-cpu (60 sessions, 3 rounds)
 * measured 4-12% less CPU per attempt in round 1 and 14% in later rounds with it, the start
 * unchanged. It goes at the top of the file, so it is the banner's first line.
 */
export const COMPILE_HINT = '//# allFunctionsCalledOnLoad';

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
    banner: {
      js: `${COMPILE_HINT}\n// bulkhead agent: built from harness/agent by scripts/build-agent.ts; do not edit.`,
    },
  });
  return outfile;
}
