import path from 'node:path';

import { Option, type Command } from 'commander';

import { loadScenarioFile } from './lazy.js';
import { attemptTarget } from '../scenario/attempt-target.js';
import { DATA_PLANES, dataPlaneOf } from '../scenario/dataplane.js';
import { formatExpectation } from '../scenario/outcomes.js';
import { outOfScopeText, pairAttempts } from '../scenario/segments.js';
import { refText, type Attempt, type Scenario } from '../scenario/types.js';
import { formatProblem } from '../errors.js';
import type { CliIo } from './io.js';
import { renderTable } from '../report/table.js';

interface ValidateOptions {
  readonly file: string;
  readonly list: boolean;
  readonly output: 'text' | 'json';
}

export function validateCommand(program: Command, io: CliIo): void {
  program
    .command('validate')
    .description('check a scenario file and show what it expands to (no cluster needed)')
    .requiredOption('-f, --file <scenario.yaml>', 'the scenario file')
    .option('-l, --list', 'list every attempt, generated ones included', false)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Exit codes: 0 the scenario is valid; 2 it has problems (each printed as file:line:column).

Examples:
  $ bulkhead validate -f scenarios/hard-isolation.yaml
  $ bulkhead validate -f scenarios/hard-isolation.yaml --list
  $ bulkhead validate -f scenarios/hard-isolation.yaml -o json | jq '.attempts[].id'`,
    )
    .action(async (options: ValidateOptions) => {
      const scenario = await loadScenarioFile(path.resolve(io.cwd, options.file));
      for (const w of scenario.warnings) io.stderr(`warning: ${formatProblem(w)}\n`);
      if (options.output === 'json') {
        io.stdout(JSON.stringify(scenarioJson(scenario), null, 2) + '\n');
        return;
      }
      io.stdout(summary(scenario, options.file));
      if (options.list) {
        if (scenario.isolate.length > 0) io.stdout('\n' + isolationTable(scenario));
        io.stdout('\n' + attemptTable(scenario.attempts));
      }
    });
}

function summary(s: Scenario, shownFile: string): string {
  const tenants = new Set(s.namespaces.flatMap((n) => n.tenant ?? []));
  const shared = s.namespaces.filter((n) => !n.tenant).length;
  const probes = s.workloads.filter((w) => w.probe).length;
  const generated = s.generators.reduce((sum, g) => sum + g.count, 0);
  const byCategory = new Map<string, number>();
  for (const a of s.attempts) byCategory.set(a.category, (byCategory.get(a.category) ?? 0) + 1);
  const policies = s.policies.map((p) =>
    p.kind === 'builtin'
      ? `builtin ${p.name}`
      : `${p.kind} ${path.basename(p.location)} (${p.manifests.length} objects)`,
  );
  return (
    `${shownFile}: scenario '${s.name}' is valid\n` +
    renderTable(
      ['', ''],
      [
        ['namespaces', `${s.namespaces.length} (${tenants.size} tenants, ${shared} shared)`],
        ['workloads', `${s.workloads.length} (${probes} probes)`],
        ['data planes', dataPlaneSummary(s)],
        ['policies', policies.length ? policies.join(', ') : 'none'],
        [
          'attempts',
          `${s.attempts.length} (${s.attempts.length - generated} explicit, ${generated} from ${s.generators.length} generators)`,
        ],
        ...[...byCategory].map(([category, n]) => [`  ${category}`, String(n)]),
        ...segmentRows(s),
      ],
    )
      .split('\n')
      .slice(1)
      .map((l) => (l ? `  ${l}` : l))
      .join('\n')
  );
}

/** Workloads per data plane, and the waypoints: `sidecar 4, ambient 6, none 2; waypoints tenant-a/waypoint`. */
function dataPlaneSummary(s: Scenario): string {
  const counts = new Map<string, number>();
  for (const w of s.workloads) counts.set(dataPlaneOf(w), (counts.get(dataPlaneOf(w)) ?? 0) + 1);
  const planes = DATA_PLANES.filter((p) => counts.has(p)).map((p) => `${p} ${counts.get(p) ?? 0}`);
  const waypoints = s.namespaces.flatMap((n) =>
    (n.waypoints ?? []).map((w) => `${n.name}/${w.name} (for ${w.for})`),
  );
  return (
    (planes.join(', ') || 'no workloads') + (waypoints.length ? `; waypoints ${waypoints.join(', ')}` : '')
  );
}

/** Segments, the isolation they must hold and what is out of scope, as summary rows. */
function segmentRows(s: Scenario): string[][] {
  return [
    ...(s.segments.length > 0
      ? [['segments', s.segments.map((g) => `${g.name} (${g.namespaces.join(', ')})`).join('; ')]]
      : []),
    ...(s.isolate.length > 0 ? [['isolate', s.isolate.map((p) => `${p.from} -> ${p.to}`).join(', ')]] : []),
    ...(s.outOfScope.length > 0 ? [['out of scope', s.outOfScope.map(outOfScopeText).join('; ')]] : []),
  ];
}

/** Each direction of isolation with the attempts that test it. */
function isolationTable(s: Scenario): string {
  return renderTable(
    ['FROM SEGMENT', 'TO SEGMENT', 'ATTEMPTS', 'KINDS'],
    s.isolate.map((p) => {
      const attempts = pairAttempts(s.attempts, p, s.segments);
      return [
        p.from,
        p.to,
        String(attempts.length),
        [...new Set(attempts.map((a) => a.kind))].join(', ') || 'none: untested',
      ];
    }),
  );
}

function attemptTable(attempts: readonly Attempt[]): string {
  return renderTable(
    ['ID', 'KIND', 'FROM', 'TARGET', 'EXPECT'],
    attempts.map((a) => [a.id, a.kind, refText(a.from), attemptTarget(a), formatExpectation(a.expect)]),
  );
}

/** The scenario as plain data: what later tools (plan, run, reports) read. */
export function scenarioJson(s: Scenario): Record<string, unknown> {
  return {
    scenario: { name: s.name, file: s.file, sha256: s.sha256 },
    meshRootNamespace: s.meshRootNamespace,
    trustDomain: s.trustDomain,
    clusterDomain: s.clusterDomain,
    namespaces: s.namespaces.map(({ origin: _origin, ...n }) => n),
    workloads: s.workloads.map(({ origin: _origin, ...w }) => w),
    policies: s.policies.map((p) =>
      p.kind === 'builtin'
        ? { builtin: p.name }
        : {
            [p.kind]: p.location,
            objects: p.manifests.map((m) => ({ ...identify(m.object), line: m.line })),
          },
    ),
    attempts: s.attempts.map(({ origin, expect, ...a }) => ({
      ...a,
      expect: formatExpectation(expect),
      source: origin.generator ?? `${origin.file}:${origin.line}`,
    })),
    segments: s.segments,
    isolate: s.isolate,
    outOfScope: s.outOfScope,
    warnings: s.warnings.map(formatProblem),
  };
}

function identify(o: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const metadata = (o.metadata ?? {}) as Record<string, unknown>;
  return { apiVersion: o.apiVersion, kind: o.kind, namespace: metadata.namespace, name: metadata.name };
}
