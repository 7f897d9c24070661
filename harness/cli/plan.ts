/**
 * `bulkhead plan`: predicts every attempt of a scenario from its policies, no cluster needed, and
 * compares the predictions with the declared expectations. `--ablate` shows which layers hold
 * each denied attempt on their own.
 */
import path from 'node:path';

import { Option, type Command } from 'commander';

import { formatProblem, UserError } from '../errors.js';
import type { PlannedAttempt } from '../model/plan.js';
import { ABLATABLE_LAYERS } from '../model/types.js';
import type { RenderOptions } from '../policies/options.js';
import { renderJUnit, type JUnitTestCase } from '../report/junit.js';
import { formatExpectation } from '../scenario/outcomes.js';
import { refText, type Attempt, type Scenario } from '../scenario/types.js';
import { EXIT, type CliIo } from './io.js';
import { renderTable } from '../report/table.js';

const FORMATS = ['table', 'json', 'junit'] as const;

interface PlanCliOptions {
  readonly file: string;
  readonly output: (typeof FORMATS)[number];
  readonly ablate: boolean;
  readonly apiServer?: string[];
  readonly apiServerPort: string;
  readonly podCidr?: string[];
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
    .option(
      '--api-server <cidr...>',
      'API server endpoint address(es) after DNAT (default: kind node network 172.18.0.0/16)',
    )
    .option('--api-server-port <port>', 'API server port after DNAT', '6443')
    .option(
      '--pod-cidr <cidr...>',
      'pod address ranges for workloads without an ip (default: 192.168.0.0/16)',
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
      const apiServer = apiServerOf(options);
      const render: RenderOptions = apiServer ? { apiServer } : {};
      const manifests = renderPolicySources(scenario, render);
      const planned = planAttempts(
        {
          ...scenario,
          manifests,
          facts: {
            ...(apiServer ? { apiServer } : {}),
            ...(options.podCidr ? { podCidrs: options.podCidr } : {}),
          },
        },
        scenario.attempts,
        { ablate: options.ablate },
      );
      switch (options.output) {
        case 'json':
          io.stdout(JSON.stringify(planJson(scenario, planned), null, 2) + '\n');
          break;
        case 'junit':
          io.stdout(planJUnit(scenario, planned));
          break;
        case 'table':
        default:
          io.stdout(planTable(planned, options.ablate));
      }
      const disagreeing = planned.filter((p) => p.agrees === false).length;
      if (disagreeing > 0) {
        throw new PlanDisagrees(
          `plan: ${disagreeing} declared expectation${disagreeing === 1 ? '' : 's'} contradict${disagreeing === 1 ? 's' : ''} the policies`,
        );
      }
    });
}

function apiServerOf(o: PlanCliOptions): RenderOptions['apiServer'] {
  const port = Number(o.apiServerPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`--api-server-port: '${o.apiServerPort}' is not a port number`);
  }
  if (o.apiServer === undefined && port === 6443) return undefined;
  return { cidrs: o.apiServer ?? ['172.18.0.0/16'], port };
}

function target(a: Attempt): { to: string | null; port: number | null; text: string } {
  switch (a.kind) {
    case 'dns':
      return { to: a.query.name, port: null, text: `${a.query.type} ${a.query.name}` };
    case 'api': {
      const r = a.request;
      const what = `${r.verb} ${r.group ? `${r.group}/` : ''}${r.resource}${r.namespace ? ` -n ${r.namespace}` : ''}`;
      return { to: what, port: null, text: what };
    }
    case 'http':
    case 'tcp':
    case 'udp':
    default:
      return { to: refText(a.to), port: a.port.port, text: `${refText(a.to)}:${a.port.port}` };
  }
}

function agreeText(p: PlannedAttempt): string {
  if (p.agrees === null) return '?';
  if (p.attempt.expect.auto) return 'auto';
  return p.agrees ? 'yes' : 'NO';
}

export function planTable(planned: readonly PlannedAttempt[], ablate: boolean): string {
  const header = ['ID', 'KIND', 'FROM', 'TARGET', 'EXPECT', 'PREDICTED', 'LAYER', 'AGREES'];
  if (ablate) header.push('HOLDS ALONE', 'FAILS WITHOUT');
  const rows = planned.map((p) => {
    const row = [
      p.attempt.id,
      p.attempt.kind,
      refText(p.attempt.from),
      target(p.attempt).text,
      formatExpectation(p.attempt.expect),
      p.predicted.outcome,
      p.predicted.layer,
      agreeText(p),
    ];
    if (ablate) {
      row.push(
        p.ablation ? p.ablation.holdsAlone.join(',') || 'none' : '',
        p.ablation ? p.ablation.failsWithout.join(',') || 'none' : '',
      );
    }
    return row;
  });
  let out = renderTable(header, rows);
  const notable = planned.filter((p) => p.agrees !== true);
  for (const p of notable) {
    const expected = p.attempt.expect.auto ? '' : ` (expected ${formatExpectation(p.attempt.expect)})`;
    out += `\n${p.attempt.id}: ${p.predicted.outcome}${expected}\n`;
    for (const r of p.predicted.reasons) out += `  - ${r}\n`;
  }
  const count = (f: (p: PlannedAttempt) => boolean) => planned.filter(f).length;
  out +=
    `\n${planned.length} attempts: ${count((p) => p.agrees === true)} agree, ` +
    `${count((p) => p.agrees === false)} disagree, ${count((p) => p.agrees === null)} unknown\n`;
  if (ablate) {
    const ablated = planned.filter((p) => p.ablation);
    const spof = ablated.filter((p) => (p.ablation?.failsWithout.length ?? 0) > 0);
    out += `ablation: ${ablated.length} denied attempts; ${ablated.length - spof.length} stay denied with any one of ${ABLATABLE_LAYERS.join(', ')} removed, ${spof.length} do not\n`;
  }
  return out;
}

export function planJson(scenario: Scenario, planned: readonly PlannedAttempt[]): Record<string, unknown> {
  return {
    scenario: { name: scenario.name, file: scenario.file, sha256: scenario.sha256 },
    attempts: planned.map((p) => {
      const t = target(p.attempt);
      return {
        id: p.attempt.id,
        kind: p.attempt.kind,
        category: p.attempt.category,
        from: refText(p.attempt.from),
        to: t.to,
        port: t.port,
        expect: formatExpectation(p.attempt.expect),
        predicted: p.predicted,
        agrees: p.agrees,
        ...(p.ablation ? { ablation: p.ablation } : {}),
      };
    }),
    summary: {
      attempts: planned.length,
      agree: planned.filter((p) => p.agrees === true).length,
      disagree: planned.filter((p) => p.agrees === false).length,
      unknown: planned.filter((p) => p.agrees === null).length,
    },
  };
}

export function planJUnit(scenario: Scenario, planned: readonly PlannedAttempt[]): string {
  const categories = [...new Set(planned.map((p) => p.attempt.category))];
  return renderJUnit({
    name: `bulkhead plan ${scenario.name}`,
    suites: categories.map((category) => ({
      name: `plan.${category}`,
      properties: [['scenario', scenario.name]],
      testcases: planned
        .filter((p) => p.attempt.category === category)
        .map((p): JUnitTestCase => {
          const reasons = p.predicted.reasons.join('\n');
          const base = {
            name: p.attempt.id,
            classname: `plan.${category}`,
            file: p.attempt.origin.file,
            line: p.attempt.origin.line,
            properties: [
              ['expect', formatExpectation(p.attempt.expect)],
              ['predicted', p.predicted.outcome],
              ['layer', p.predicted.layer],
            ] as [string, string][],
          };
          if (p.agrees === null)
            return {
              ...base,
              skipped: { message: `the model cannot predict it: ${p.predicted.reasons[0] ?? ''}` },
            };
          if (!p.agrees) {
            return {
              ...base,
              failure: {
                message: `predicted ${p.predicted.outcome}, expected ${formatExpectation(p.attempt.expect)}`,
                type: p.predicted.outcome,
                text: reasons,
              },
            };
          }
          return { ...base, systemOut: reasons };
        }),
    })),
  });
}
