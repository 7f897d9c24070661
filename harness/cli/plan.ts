/**
 * `bulkhead plan`: predicts every attempt of a scenario from its policies, no cluster needed, and
 * compares the predictions with the declared expectations. `--ablate` shows which layers hold
 * each denied attempt on their own.
 */
import path from 'node:path';

import { Option, type Command } from 'commander';

import { formatProblem, UserError } from '../errors.js';
import type { ClusterPolicyForm, RenderOptions } from '../policies/options.js';
import type { PlannedAttempt } from '../model/plan.js';
import type { ClusterPolicies } from '../policies/cluster-policies.js';
import { clusterFlips, flipText } from '../model/cluster-flips.js';
import { planJson, planJUnit, planTable } from '../report/plan.js';
import type { Attempt, Scenario } from '../scenario/types.js';
import { cidrList } from './cidr-option.js';
import { EXIT, type CliIo } from './io.js';
import { checkClusterPolicyOption, clusterPolicyOption } from './shared.js';

const FORMATS = ['table', 'json', 'junit'] as const;

interface PlanCliOptions {
  readonly file: string;
  readonly output: (typeof FORMATS)[number];
  readonly ablate: boolean;
  readonly staged: boolean;
  readonly clusterPolicy?: ClusterPolicyForm;
  readonly fromCluster: boolean;
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly apiServer?: string[];
  readonly apiServerPort: string;
  readonly podCidr?: string[];
  readonly calico?: string;
}

/** Some declared expectation contradicts the prediction: exit 1, like a failed isolation check. */
class PlanDisagrees extends UserError {
  override readonly name = 'PlanDisagrees';
  // Not bad input (2): the "an isolation expectation failed" case.
  override readonly exitCode: number = EXIT.failed;
}

export function planCommand(program: Command, io: CliIo): void {
  program
    .command('plan')
    .description("predict every attempt's outcome from the scenario's policies (no cluster needed)")
    .requiredOption('-f, --file <scenario.yaml>', 'the scenario file')
    .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table'))
    .option('--ablate', 'for attempts expected denied, show which layers hold them on their own', false)
    .addOption(clusterPolicyOption())
    .option(
      '--from-cluster',
      "read the cluster's own policies (NetworkPolicy, Calico, ClusterNetworkPolicy, Istio) read-only and predict with them",
      false,
    )
    .option('--kubeconfig <file>', 'with --from-cluster: the kubeconfig (default: as kubectl finds it)')
    .option('--context <name>', 'with --from-cluster: kubeconfig context (default: the current one)')
    .option(
      '--staged',
      "predict Calico's staged policies as if enforced, and list the attempts whose outcome that changes",
      false,
    )
    .option(
      '--calico <version>',
      'the Calico release that enforces the policies (decides what AdminNetworkPolicy kinds do; default: unknown, or what --from-cluster reads)',
    )
    .option(
      '--api-server <cidr[,cidr...]>',
      'API server endpoint address(es) after DNAT (default: kind node network 172.18.0.0/16; repeatable)',
      cidrList,
    )
    .option('--api-server-port <port>', 'API server port after DNAT', '6443')
    .option(
      '--pod-cidr <cidr[,cidr...]>',
      'pod address ranges for workloads without an ip (default: 192.168.0.0/16; repeatable)',
      cidrList,
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 every prediction agrees with its expectation (or is unknown); 1 some declared
expectation contradicts the prediction; 2 bad input.

Examples:
  $ bulkhead plan -f scenarios/hard-isolation.yaml
  $ bulkhead plan -f scenarios/hard-isolation.yaml --ablate
  $ bulkhead plan -f scenarios/hard-isolation.yaml -o json | jq '.attempts[] | select(.agrees == false)'`,
    )
    .action(async (options: PlanCliOptions) => {
      const [{ loadScenarioFile }, { renderPolicySources }, { planAttempts }] = await Promise.all([
        import('../scenario/loader.js'),
        import('../policies/render.js'),
        import('../model/plan.js'),
      ]);
      const scenario = await loadScenarioFile(path.resolve(io.cwd, options.file));
      for (const w of scenario.warnings) io.stderr(`warning: ${formatProblem(w)}\n`);
      checkClusterPolicyOption(scenario, options.clusterPolicy);
      const apiServer = apiServerOf(options);
      const render: RenderOptions = {
        ...(apiServer ? { apiServer } : {}),
        ...(options.clusterPolicy ? { clusterPolicy: options.clusterPolicy } : {}),
      };
      const manifests = renderPolicySources(scenario, render);
      const foreign = options.fromCluster ? await clusterPolicies(scenario, options, io.cwd) : undefined;
      const calico = calicoOf(options.calico) ?? foreign?.calico;
      const input = {
        ...scenario,
        manifests,
        facts: {
          ...(apiServer ? { apiServer } : {}),
          ...(options.podCidr ? { podCidrs: options.podCidr } : {}),
          ...(calico ? { calico } : {}),
        },
      };
      const { ignoredAdminPolicies } = await import('../model/admin-network-policy.js');
      for (const text of ignoredAdminPolicies([...(foreign?.manifests ?? []), ...manifests], calico))
        io.stderr(`warning: ${text}\n`);
      const planOptions = { ablate: options.ablate, staged: options.staged };
      // The cluster's objects were there first: they go before the scenario's.
      const planned = planAttempts(
        foreign ? { ...input, manifests: [...foreign.manifests, ...manifests] } : input,
        scenario.attempts,
        planOptions,
      );
      if (foreign) {
        io.stderr(
          `from the cluster: ${foreign.manifests.length} policy object${foreign.manifests.length === 1 ? '' : 's'}` +
            (foreign.absent.length ? ` (not served: ${foreign.absent.join(', ')})` : '') +
            '\n',
        );
        for (const kind of foreign.unreadable)
          io.stderr(`warning: cannot list ${kind}: the predictions do not account for such objects\n`);
        const own = planAttempts(input, scenario.attempts, { staged: options.staged });
        const predicted = (list: readonly PlannedAttempt[]) => {
          const byId = new Map(list.map((p) => [p.attempt.id, p.predicted]));
          return (a: Attempt) => byId.get(a.id);
        };
        for (const flip of clusterFlips(scenario.attempts, predicted(own), predicted(planned)))
          io.stderr(`warning: ${flipText(flip)}\n`);
      }
      switch (options.output) {
        case 'json':
          io.stdout(JSON.stringify(planJson(scenario, planned), null, 2) + '\n');
          break;
        case 'junit':
          io.stdout(planJUnit(scenario, planned));
          break;
        case 'table':
        default:
          io.stdout(planTable(planned, options.ablate, scenario.workloads));
      }
      const disagreeing = planned.filter((p) => p.agrees === false).length;
      if (disagreeing > 0) {
        throw new PlanDisagrees(
          `plan: ${disagreeing} declared expectation${disagreeing === 1 ? '' : 's'} contradict${disagreeing === 1 ? 's' : ''} the policies`,
        );
      }
    });
}

/** `--calico`: a release like v3.31.2, or exit 2 naming the option. */
function calicoOf(version: string | undefined): string | undefined {
  if (version === undefined) return undefined;
  if (!/^v?\d+\.\d+\.\d+$/.test(version.trim()))
    throw new UserError(`--calico: '${version}' is not a Calico release like v3.31.2`);
  return version.trim();
}

/**
 * The cluster's policy objects that can touch the scenario's namespaces, read-only, with the
 * Calico release the cluster reports (when it reports one).
 */
async function clusterPolicies(
  scenario: Scenario,
  options: PlanCliOptions,
  cwd: string,
): Promise<ClusterPolicies & { readonly calico?: string }> {
  const [{ loadKubeConfig }, { KubeClient }, { readClusterPolicies }, { calicoVersion }] = await Promise.all([
    import('../cluster/existing.js'),
    import('../kube/index.js'),
    import('../policies/cluster-policies.js'),
    import('../cluster/detect.js'),
  ]);
  const kubeConfig = loadKubeConfig({
    cwd,
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context ? { context: options.context } : {}),
  });
  const client = new KubeClient({ kubeConfig });
  const policies = await readClusterPolicies({
    client,
    namespaces: scenario.namespaces.map((n) => n.name),
    meshRootNamespace: scenario.meshRootNamespace,
  });
  // Only for the AdminNetworkPolicy kinds: a version that cannot be read leaves them unknown.
  const calico =
    options.calico === undefined ? await calicoVersion(client).catch(() => undefined) : undefined;
  return { ...policies, ...(calico ? { calico } : {}) };
}

function apiServerOf(o: PlanCliOptions): RenderOptions['apiServer'] {
  const port = Number(o.apiServerPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`--api-server-port: '${o.apiServerPort}' is not a port number`);
  }
  if (o.apiServer === undefined && port === 6443) return undefined;
  return { cidrs: o.apiServer ?? ['172.18.0.0/16'], port };
}
