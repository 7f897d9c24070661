/**
 * `bulkhead plan`'s outputs: the terminal table (with the reasons of every prediction that does
 * not agree, and the ablation summary), JSON, and JUnit XML with one test per attempt.
 */
import type { PlannedAttempt } from '../model/plan.js';
import { ABLATABLE_LAYERS } from '../model/types.js';
import { foreignObjects } from '../policies/cluster-location.js';
import { addressTargetText } from '../scenario/address-target.js';
import { attemptTarget } from '../scenario/attempt-target.js';
import { attemptPlanes, planesText } from '../scenario/dataplane.js';
import { formatExpectation } from '../scenario/outcomes.js';
import { refText, type Attempt, type Scenario } from '../scenario/types.js';
import { renderJUnit, type JUnitTestCase } from './junit.js';
import { renderTable } from './table.js';

/** The destination as plan's JSON names it: a workload and port, a DNS name, or an API request. */
function target(a: Attempt): { to: string | null; port: number | null } {
  switch (a.kind) {
    case 'dns':
      return { to: a.query.name, port: null };
    case 'api':
      return { to: attemptTarget(a), port: null };
    case 'http':
    case 'tcp':
    case 'udp':
      return { to: 'target' in a ? addressTargetText(a.target) : refText(a.to), port: a.port.port };
  }
}

function agreeText(p: PlannedAttempt): string {
  if (p.agrees === null) return '?';
  if (p.attempt.expect.auto) return 'auto';
  return p.agrees ? 'yes' : 'NO';
}

/**
 * @param workloads the scenario's, for the PLANES column: the data planes of each source and
 *   destination workload (`ambient→sidecar`).
 */
export function planTable(
  planned: readonly PlannedAttempt[],
  ablate: boolean,
  workloads: Scenario['workloads'],
): string {
  const header = ['ID', 'KIND', 'FROM', 'TARGET', 'PLANES', 'EXPECT', 'PREDICTED', 'LAYER', 'AGREES'];
  if (ablate) header.push('HOLDS ALONE', 'FAILS WITHOUT');
  const rows = planned.map((p) => {
    const row = [
      p.attempt.id,
      p.attempt.kind,
      refText(p.attempt.from),
      attemptTarget(p.attempt),
      planesText(attemptPlanes(workloads, p.attempt)),
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
  const changing = planned.filter((p) => p.wouldChange);
  if (changing.length > 0) {
    out += `\nstaged policies, as if enforced, change ${changing.length} attempt${changing.length === 1 ? '' : 's'}:\n`;
    for (const p of changing)
      out += `  ${p.attempt.id}: ${p.wouldChange?.current.outcome ?? ''} -> ${p.predicted.outcome}\n`;
  }
  if (ablate) {
    const ablated = planned.filter((p) => p.ablation);
    const spof = ablated.filter((p) => (p.ablation?.failsWithout.length ?? 0) > 0);
    const weighed = [...new Set(ablated.flatMap((p) => Object.keys(p.ablation?.without ?? {})))];
    const layers = weighed.length > 0 ? weighed : ABLATABLE_LAYERS.filter((l) => l !== 'cluster-network');
    out += `ablation: ${ablated.length} denied attempts; ${ablated.length - spof.length} stay denied with any one of ${layers.join(', ')} removed, ${spof.length} do not\n`;
  }
  return out;
}

export function planJson(scenario: Scenario, planned: readonly PlannedAttempt[]): Record<string, unknown> {
  return {
    scenario: { name: scenario.name, file: scenario.file, sha256: scenario.sha256 },
    attempts: planned.map((p) => {
      const t = target(p.attempt);
      const planes = attemptPlanes(scenario.workloads, p.attempt);
      return {
        id: p.attempt.id,
        kind: p.attempt.kind,
        category: p.attempt.category,
        from: refText(p.attempt.from),
        to: t.to,
        port: t.port,
        ...(planes ? { dataplanes: planes } : {}),
        expect: formatExpectation(p.attempt.expect),
        predicted: p.predicted,
        agrees: p.agrees,
        ...(p.ablation ? { ablation: p.ablation } : {}),
        ...(p.wouldChange ? { wouldChange: { current: p.wouldChange.current } } : {}),
        ...(foreignObjects(p.predicted.reasons).length > 0
          ? { decidedByCluster: foreignObjects(p.predicted.reasons) }
          : {}),
      };
    }),
    summary: {
      attempts: planned.length,
      agree: planned.filter((p) => p.agrees === true).length,
      disagree: planned.filter((p) => p.agrees === false).length,
      unknown: planned.filter((p) => p.agrees === null).length,
      ...(planned.some((p) => p.wouldChange)
        ? { wouldChange: planned.filter((p) => p.wouldChange).length }
        : {}),
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
