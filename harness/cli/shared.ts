/** Option parsers and loaders the cluster commands (run, upgrade-check) share. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { InvalidArgumentError, Option, type Command } from 'commander';

import { AGENT_BUNDLE, buildAgentBundle } from '../agent/bundle.js';
import { InputError, UserError } from '../errors.js';
import { parseCidr } from '../model/cidr.js';
import {
  CLUSTER_POLICY_FORMS,
  type ApiServerEndpoints,
  type ClusterPolicyForm,
} from '../policies/options.js';
import type { Scenario } from '../scenario/types.js';
import type { DEFAULT_EXEC_CONCURRENCY as EXEC_CONCURRENCY } from '../run/execute.js';
import type { RunSettings } from '../run/runner.js';
import { messageOf } from '../values.js';

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

/**
 * kube-apiserver's default `--secure-port` (Kubernetes kube-apiserver command-line reference):
 * the port `--api-server` means when it names none.
 */
export const API_SERVER_PORT = 6443;

/**
 * `--api-server 10.0.0.5/32,10.0.0.6/32:6443`: the API server as pods reach it after the
 * `kubernetes` Service's DNAT. CIDRs with their prefix length, comma-separated, then an optional
 * `:port` (default 6443); the prefix length makes the port unambiguous for IPv6 too
 * (`fd00::5/128:443`). One value, because `run --api-server-port` is the kind host port already.
 */
export function apiServerEndpoints(value: string): ApiServerEndpoints {
  const match = /^(.*\/\d{1,3})(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match?.[1])
    throw new InvalidArgumentError(
      'expected <cidr>[,<cidr>...][:port], each CIDR with its prefix length (10.0.0.5/32)',
    );
  const cidrs = match[1].split(',').map((c) => c.trim());
  const bad = cidrs.filter((c) => !c.includes('/') || parseCidr(c) === undefined);
  if (bad.length > 0)
    throw new InvalidArgumentError(
      `not a CIDR with a prefix length: '${bad.join("', '")}' (write 10.0.0.5/32 for one address)`,
    );
  const port = match[2] === undefined ? API_SERVER_PORT : Number(match[2]);
  if (port < 1 || port > 65535)
    throw new InvalidArgumentError(`port ${String(port)} is not between 1 and 65535`);
  return { cidrs, port };
}

/** Adds `--api-server` (run): where tenants reach the API server when the cluster cannot say. */
export function addApiServerOption(command: Command): Command {
  return command.option(
    '--api-server <cidr[,cidr...][:port]>',
    'the API server as pods reach it after DNAT, for allow-api-server (default: read from the kubernetes EndpointSlice; port 6443)',
    apiServerEndpoints,
  );
}

/** `--cluster-policy calico|cnp` (plan, run, upgrade-check): where builtin:hard-isolation puts its cross-tenant deny. */
export function clusterPolicyOption(): Option {
  return new Option(
    '--cluster-policy <form>',
    "where builtin:hard-isolation puts its cross-tenant deny: a Calico tier or a ClusterNetworkPolicy (overrides the scenario's clusterPolicy)",
  ).choices(CLUSTER_POLICY_FORMS);
}

/**
 * `--cluster-policy` on a scenario without `builtin: hard-isolation` would change nothing, so it
 * is refused rather than let the user believe the form was tested.
 */
export function checkClusterPolicyOption(
  scenario: Pick<Scenario, 'file' | 'policies'>,
  form: ClusterPolicyForm | undefined,
): void {
  if (form === undefined) return;
  if (scenario.policies.some((p) => p.kind === 'builtin' && p.name === 'hard-isolation')) return;
  throw new UserError(
    `--cluster-policy ${form}: ${scenario.file} does not use builtin: hard-isolation, the only policy source it chooses the form of`,
  );
}

/**
 * The scenario's policy files against their kinds' schemas, before any download or cluster: a
 * violation is exit 2 at its file:line (harness/policies/schema-validate.ts says why), not an
 * apply error minutes later. The built-in bundles are bulkhead's own and rendered per cluster.
 */
export async function checkPolicySchemas(scenario: Scenario): Promise<void> {
  const [{ schemaProblems }, { policyFiles }] = await Promise.all([
    import('../policies/schema-validate.js'),
    import('../policies/render.js'),
  ]);
  const problems = schemaProblems(policyFiles(scenario));
  if (problems.length > 0) throw new InputError(problems);
}

/** The agent bundle `npm ci` built; built now if it is missing (a checkout without `npm ci`). */
export async function loadAgentBundle(): Promise<string> {
  if (!existsSync(AGENT_BUNDLE)) {
    try {
      await buildAgentBundle();
    } catch (error) {
      throw new UserError(
        `the agent bundle ${AGENT_BUNDLE} is missing and could not be built (${messageOf(error)}); run npm ci`,
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

/**
 * The runner's default `--exec-concurrency`, for the help text, without loading the runner (and
 * the Kubernetes client) to define the command; a different value in run/execute.ts fails the typecheck.
 */
const DEFAULT_EXEC_CONCURRENCY: typeof EXEC_CONCURRENCY = 32;

/** The runner settings `run` and `upgrade-check` share, as commander parses them. */
export interface RunnerOptions {
  readonly readyTimeout: number;
  readonly convergeTimeout: number;
  readonly settle: number;
  readonly stableRounds: number;
  readonly roundInterval: number;
  readonly execConcurrency?: number;
  readonly barrierTimeout: number;
  readonly agentImage?: string;
  readonly imageRegistry?: string;
  readonly runId?: string;
  /** `--cluster-policy` (run, upgrade-check). */
  readonly clusterPolicy?: ClusterPolicyForm;
}

/** Adds the runner's options (timeouts, convergence, images, run id) to a command. */
export function addRunnerOptions(command: Command): Command {
  return command
    .option('--ready-timeout <seconds>', 'how long pods may take to become Ready', seconds, 300)
    .option(
      '--converge-timeout <seconds>',
      'how long rounds may go on before outcomes must settle',
      seconds,
      180,
    )
    .option(
      '--settle <seconds>',
      'an extra minimum wait before round 1, after the propagation barriers',
      seconds,
      5,
    )
    .option('--stable-rounds <n>', 'equal outcomes in a row that settle an attempt', count, 3)
    .option('--round-interval <seconds>', 'pause between rounds', seconds, 1)
    .option(
      '--barrier-timeout <seconds>',
      "how long the network canary and istiod's sync status of the sidecars may take to show the policies in force before round 1 (0: both off)",
      seconds,
      120,
    )
    .option(
      '--exec-concurrency <n>',
      'agent sessions (exec WebSockets) that may be opening at once',
      count,
      DEFAULT_EXEC_CONCURRENCY,
    )
    .option('--agent-image <image>', 'the Node image the fixture pods run (pin it by digest)')
    .option('--image-registry <host>', 'pull images from this mirror registry instead')
    .option('--run-id <id>', 'name the run (default: from the start time)');
}

/** The convergence settings in milliseconds, as the runner and the reports' method take them. */
export function runnerTimings(options: RunnerOptions) {
  return {
    readyTimeoutMs: options.readyTimeout * 1000,
    convergeTimeoutMs: options.convergeTimeout * 1000,
    settleMs: options.settle * 1000,
    roundIntervalMs: options.roundInterval * 1000,
    stableRounds: options.stableRounds,
    barrierTimeoutMs: options.barrierTimeout * 1000,
  };
}

/** The image choice, given only when the user made it. */
export function imageChoice(options: RunnerOptions): { agentImage?: string; imageRegistry?: string } {
  return {
    ...(options.agentImage ? { agentImage: options.agentImage } : {}),
    ...(options.imageRegistry ? { imageRegistry: options.imageRegistry } : {}),
  };
}

/** The run settings the flags say (`run`, `upgrade-check`), in the units the runner takes. */
export function runSettings(
  options: RunnerOptions & { readonly apiServer?: ApiServerEndpoints },
  agentBundle: string,
): RunSettings {
  return {
    agentBundle,
    ...runnerTimings(options),
    ...(options.execConcurrency ? { execConcurrency: options.execConcurrency } : {}),
    ...imageChoice(options),
    ...(options.apiServer ? { apiServer: options.apiServer } : {}),
    ...(options.clusterPolicy ? { clusterPolicy: options.clusterPolicy } : {}),
  };
}
