/** Option parsers and loaders the cluster commands (run, upgrade-check) share. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { InvalidArgumentError } from 'commander';

import { AGENT_BUNDLE, buildAgentBundle } from '../agent/bundle.js';
import { UserError } from '../errors.js';

/** `--timeout 30`: a number of seconds, 0 or more. */
export function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('expected a number of seconds (0 or more)');
  return n;
}

/** `--stable-rounds 3`: a whole number, 1 or more. */
export function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return n;
}

/** The agent bundle `npm ci` built; built now if it is missing (a checkout without `npm ci`). */
export async function loadAgentBundle(): Promise<string> {
  if (!existsSync(AGENT_BUNDLE)) {
    try {
      await buildAgentBundle();
    } catch (error) {
      throw new UserError(
        `the agent bundle ${AGENT_BUNDLE} is missing and could not be built (${error instanceof Error ? error.message : String(error)}); run npm ci`,
      );
    }
  }
  return readFile(AGENT_BUNDLE, 'utf8');
}

/** The CI job that started a run, when a CI system says so. */
export function ciTrigger(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GITHUB_ACTIONS)
    return `github-actions ${env.GITHUB_WORKFLOW ?? ''} ${env.GITHUB_EVENT_NAME ?? ''}`.trim();
  if (env.GITLAB_CI) return `gitlab-ci ${env.CI_PIPELINE_SOURCE ?? ''} ${env.CI_JOB_URL ?? ''}`.trim();
  if (env.CI) return 'ci';
  return 'manual';
}
