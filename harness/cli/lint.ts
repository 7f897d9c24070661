/**
 * `bulkhead lint`: static findings on policy manifests, no cluster. Lints the scenario's policies
 * (built-in bundles rendered for its tenants, and its files) and any manifest files or folders
 * given; exit 1 when a finding is at or above --fail-on, 2 when the input cannot be read.
 */
import path from 'node:path';

import { Option, type Command } from 'commander';

import { UserError } from '../errors.js';
import type { Format, FORMATS as REPORT_FORMATS } from '../report/lint.js';
import type * as LintContextModule from '../lint/context.js';
import { SEVERITIES, type Severity } from '../lint/types.js';
import type { RenderOptions } from '../policies/options.js';
import type { Manifest, Scenario } from '../scenario/types.js';
import { cidrList } from './cidr-option.js';
import { EXIT, type CliIo } from './io.js';
import { renderTable } from '../report/table.js';
import { VERSION } from '../version.js';

/**
 * report/lint.ts's formats, here so that defining the options loads no rule or schema (the
 * rules load kubernetes-models and ajv). The type is report/lint.ts's tuple: a format added
 * or removed there fails the typecheck until it is here too.
 */
const FORMATS: typeof REPORT_FORMATS = ['table', 'json', 'junit', 'sarif'];

interface LintCliOptions {
  readonly file?: string;
  readonly output: Format;
  readonly failOn: Severity;
  readonly serviceCidr?: string[];
  readonly apiServer?: string[];
  readonly apiServerPort: string;
  readonly tenantLabel?: string[];
  readonly tenantNamespaces?: string[];
  readonly listRules: boolean;
}

/** A repeatable option's values, in the order given. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Findings at or above --fail-on: exit 1, reported as one line, never as a stack trace. */
class LintFailed extends UserError {
  override readonly name = 'LintFailed';
  // Not bad input (2): the "an isolation expectation failed" case.
  override readonly exitCode: number = EXIT.failed;
}

function renderOptions(o: LintCliOptions): RenderOptions {
  if (!o.apiServer) return {};
  const port = Number(o.apiServerPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`--api-server-port: '${o.apiServerPort}' is not a port number`);
  }
  return { apiServer: { cidrs: o.apiServer, port } };
}

/** --tenant-label and --tenant-namespaces, checked: one sentence naming the option and the value. */
function tenancyOptions(
  o: LintCliOptions,
  checks: Pick<typeof LintContextModule, 'labelKeyProblem' | 'namespaceNameProblem'>,
): { tenantLabels?: string[]; tenantNamespaces?: string[] } {
  const labels = o.tenantLabel ?? [];
  const lists = o.tenantNamespaces ?? [];
  if (labels.length === 0 && lists.length === 0) return {};
  if (o.file !== undefined) {
    const flag = labels.length > 0 ? '--tenant-label' : '--tenant-namespaces';
    throw new UserError(`${flag} is for manifests without a scenario: ${o.file} names its tenants itself`);
  }
  for (const key of labels) {
    const problem = checks.labelKeyProblem(key);
    if (problem !== undefined) {
      throw new UserError(
        `--tenant-label: '${key}' is not a label key: ${problem} (e.g. capsule.clastix.io/tenant)`,
      );
    }
  }
  const namespaces: string[] = [];
  for (const list of lists) {
    for (const name of list.split(',').map((n) => n.trim())) {
      if (name === '') {
        throw new UserError(
          `--tenant-namespaces: '${list}' has an empty name; separate names with single commas`,
        );
      }
      const problem = checks.namespaceNameProblem(name);
      if (problem !== undefined) {
        throw new UserError(`--tenant-namespaces: '${name}' is not a namespace name: ${problem}`);
      }
      namespaces.push(name);
    }
  }
  return {
    ...(labels.length > 0 ? { tenantLabels: labels } : {}),
    ...(namespaces.length > 0 ? { tenantNamespaces: namespaces } : {}),
  };
}

export function lintCommand(program: Command, io: CliIo): void {
  program
    .command('lint')
    .description('find multi-tenant isolation pitfalls in policy manifests (no cluster needed)')
    .argument('[paths...]', 'manifest files or folders (YAML, read recursively)')
    .option('-f, --file <scenario.yaml>', "lint the scenario's policies, knowing its tenants and workloads")
    .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table'))
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 when a finding is at or above this severity')
        .choices(SEVERITIES)
        .default('error'),
    )
    .option(
      '--service-cidr <cidr[,cidr...]>',
      'Service ClusterIP ranges (default: 10.96.0.0/12, kubeadm and kind; repeatable)',
      cidrList,
    )
    .option(
      '--api-server <cidr[,cidr...]>',
      'API server endpoint address(es) for builtin:hard-isolation (default: kind node network 172.18.0.0/16; repeatable)',
      cidrList,
    )
    .option('--api-server-port <port>', 'API server port after DNAT, for builtin:hard-isolation', '6443')
    .option(
      '--tenant-label <key>',
      "without -f: a Namespace label marking tenant namespaces, its value naming the tenant; replaces framework labels, 'tenant' and tenant-* (repeatable)",
      collect,
    )
    .option(
      '--tenant-namespaces <list>',
      "without -f: tenant namespaces, their names comma-separated; replaces framework labels, 'tenant' and tenant-* (repeatable)",
      collect,
    )
    .option('--list-rules', 'list the rules (id, severity, what each finds) and exit', false)
    .addHelpText(
      'after',
      `
Exit codes: 0 no finding at or above --fail-on; 1 some; 2 input that cannot be read or parsed.

Examples:
  $ bulkhead lint -f scenarios/hard-isolation.yaml
  $ bulkhead lint policies/ --fail-on warning
  $ bulkhead lint -f scenarios/hard-isolation.yaml -o sarif > bulkhead.sarif
  $ bulkhead lint policies/ -o json | jq '.findings[] | select(.severity == "error")'
  $ bulkhead lint --list-rules`,
    )
    .action(async (paths: string[], options: LintCliOptions) => {
      const [{ failsAt, lintManifests, RULES }, lintContext] = await Promise.all([
        import('../lint/index.js'),
        import('../lint/context.js'),
      ]);
      if (options.listRules) {
        io.stdout(
          renderTable(
            ['RULE', 'SEVERITY', 'FINDS'],
            RULES.map((r) => [r.id, r.severity, r.summary]),
          ),
        );
        return;
      }
      const [lintFormats, { readManifestPaths }, { renderPolicySources }, { loadScenarioFile }] =
        await Promise.all([
          import('../report/lint.js'),
          import('../policies/read-manifests.js'),
          import('../policies/render.js'),
          import('../scenario/loader.js'),
        ]);
      const { formatJson, formatJUnit, formatSarif, formatTable } = lintFormats;
      const render = renderOptions(options);
      const tenancy = tenancyOptions(options, lintContext);
      let scenario: Scenario | undefined;
      const manifests: Manifest[] = [];
      if (options.file !== undefined) {
        scenario = await loadScenarioFile(path.resolve(io.cwd, options.file));
        manifests.push(...renderPolicySources(scenario, render));
      }
      manifests.push(...(await readManifestPaths(paths, io.cwd)));
      if (options.file === undefined && paths.length === 0) {
        throw new UserError('nothing to lint: give manifest files or folders, or a scenario with -f');
      }
      // Scenario origins are absolute; show every file relative to where the command runs.
      const findings = lintManifests(manifests, {
        ...(scenario ? { scenario } : {}),
        ...(options.serviceCidr ? { serviceCidrs: options.serviceCidr } : {}),
        ...tenancy,
      }).map((f) => (path.isAbsolute(f.file) ? { ...f, file: path.relative(io.cwd, f.file) || f.file } : f));
      switch (options.output) {
        case 'json':
          io.stdout(formatJson(findings));
          break;
        case 'junit':
          io.stdout(formatJUnit(findings, manifests, options.failOn));
          break;
        case 'sarif':
          io.stdout(formatSarif(findings, VERSION));
          break;
        case 'table':
        default:
          io.stdout(formatTable(findings, manifests.length, options.failOn));
      }
      if (failsAt(findings, options.failOn)) {
        const n = findings.filter(
          (f) => SEVERITIES.indexOf(f.severity) <= SEVERITIES.indexOf(options.failOn),
        ).length;
        throw new LintFailed(
          `lint: ${n} finding${n === 1 ? '' : 's'} at or above --fail-on ${options.failOn}`,
        );
      }
    });
}
