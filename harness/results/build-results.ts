/**
 * `results.json` as a fold over a run's records (results.jsonl, harness/results/records.ts)
 * and its scenario: the same records give the same document, whether the run has just ended or
 * crashed a week ago. Pure: data in, document out; reading the log is `readResultsRecords`.
 *
 * An attempt the run judged has a `result` record, and its verdict is the runner's. An attempt
 * without one (the run was killed before judging) is judged here from its observations, with
 * the same rule (judge.ts); what was never attempted in a run that stopped early is `skipped`.
 */
import type { PlannedAttempt } from '../model/plan.js';
import type { Finding } from '../lint/types.js';
import { formatExpectation, isMustDeny, type Outcome } from '../scenario/outcomes.js';
import type { Attempt, Scenario } from '../scenario/types.js';
import { attemptTarget } from '../scenario/attempt-target.js';
import { attemptPlanes, dataPlaneOf, namespacePlane } from '../scenario/dataplane.js';
import { outOfScopeText } from '../scenario/segments.js';
import { foreignObjects } from '../policies/cluster-location.js';
import { inTransit } from './in-transit.js';
import { judgeObservations } from './judge.js';
import { layerOf } from './layers.js';
import { FLIP_JUDGING } from '../model/cluster-flips.js';
import type {
  BarrierRecord,
  ClusterPoliciesRecord,
  EndRecord,
  FactsRecord,
  FootingRecord,
  ObservationRecord,
  PoliciesRecord,
  ResultRecord,
  ResultsRecord,
  RunEnvironment,
  RunRecord,
  TransitionRecord,
} from './records.js';
import {
  RESULTS_JSON_VERSION,
  type AblationEntry,
  type AttemptEntry,
  type ReportVerdict,
  type ResultsDocument,
} from './results-model.js';

export interface BuildResultsProps {
  /** The run's records, in the order they were written (the first is the `run` record). */
  readonly records: readonly ResultsRecord[];
  readonly scenario: Scenario;
  /**
   * What to say over the run record's environment, field by field (an upgrade phase gives the
   * Istio versions it observed). @default the run record's
   */
  readonly environment?: RunEnvironment;
  /** The bulkhead version, when the run record does not name one. */
  readonly version: string;
  readonly predictions?: readonly PlannedAttempt[];
  readonly lint?: readonly Finding[];
}

const DEFAULT_STABLE_ROUNDS = 3;

export function convergenceRule(stableRounds: number): string {
  return (
    `Each attempt is repeated in rounds until its outcome is the same in ${stableRounds} consecutive rounds ` +
    `or the deadline passes. A must-deny attempt observed allowed in any round after the policies were ` +
    `applied is a failure (a leak), whatever later rounds show. An attempt that did not settle passes only ` +
    `if every round satisfied its expectation. A probe error never satisfies an expectation.`
  );
}

function transitOf(
  a: Attempt,
  scenario: Scenario,
  outcome: Outcome,
  evidence: Readonly<Record<string, unknown>> | undefined,
): { transit?: NonNullable<AttemptEntry['transit']> } {
  const t = inTransit(a, scenario, outcome, evidence);
  return t ? { transit: { ...t } } : {};
}

export function buildResults(props: BuildResultsProps): ResultsDocument {
  const { scenario, records } = props;
  const run = records.find((r): r is RunRecord => r.type === 'run');
  if (!run) throw new Error('a results log without a run record cannot be folded');
  const end = records.findLast((r): r is EndRecord => r.type === 'end');
  const facts = records.findLast((r): r is FactsRecord => r.type === 'facts');
  const footing = records.findLast((r): r is FootingRecord => r.type === 'footing');
  const barrier = records.findLast((r): r is BarrierRecord => r.type === 'barrier');
  const policies = records.findLast((r): r is PoliciesRecord => r.type === 'policies');
  const transition = records.findLast((r): r is TransitionRecord => r.type === 'transition');
  const foreign = records.findLast((r): r is ClusterPoliciesRecord => r.type === 'cluster-policies');
  const judged = new Map(
    records.filter((r): r is ResultRecord => r.type === 'result').map((r) => [r.attempt, r]),
  );
  const observations = new Map<string, ObservationRecord[]>();
  for (const r of records) {
    if (r.type !== 'observation') continue;
    observations.set(r.attempt, [...(observations.get(r.attempt) ?? []), r]);
  }
  const recorded = run.environment ?? {};
  const env: RunEnvironment = {
    ...recorded,
    ...props.environment,
    versions: { ...recorded.versions, ...props.environment?.versions },
  };
  const stableRounds = run.method?.stableRounds ?? DEFAULT_STABLE_ROUNDS;
  // A log without an end record is a run that was killed or crashed: it stopped early.
  const stoppedEarly = end ? end.interrupted === true : true;
  const predictions = new Map((props.predictions ?? []).map((p) => [p.attempt.id, p]));

  const attempts = scenario.attempts.map((a): AttemptEntry => {
    const seen = observations.get(a.id) ?? [];
    const result = judged.get(a.id) ?? judgeUnrecorded(a, seen, stableRounds);
    // A run that stopped early has not judged what it never made, nor a pass that had not
    // settled yet: one more round could have seen it fail.
    const verdict: ReportVerdict =
      result.verdict === 'error' && result.rounds === 0 && stoppedEarly
        ? 'skipped'
        : result.verdict === 'pass' && !result.stable && stoppedEarly
          ? 'not-judged'
          : result.verdict;
    // The evidence shown is that of the observation the verdict rests on: the leaking round for
    // a leak, otherwise the last one.
    const deciding = result.leak ? seen.find((o) => o.outcome === result.outcome) : seen.at(-1);
    const planned = predictions.get(a.id);
    const prediction = planned
      ? {
          outcome: planned.predicted.outcome,
          layer: planned.predicted.layer,
          reasons: [...planned.predicted.reasons],
          agrees: planned.agrees,
          ...(foreignObjects(planned.predicted.reasons).length > 0
            ? { decidedBy: foreignObjects(planned.predicted.reasons) }
            : {}),
        }
      : result.prediction;
    const first = seen[0];
    const last = seen.at(-1);
    return {
      id: a.id,
      category: a.category,
      kind: a.kind,
      ...(a.description ? { description: a.description } : {}),
      from: { namespace: a.from.namespace, name: a.from.name },
      ...('to' in a ? { to: { namespace: a.to.namespace, name: a.to.name }, port: a.port.port } : {}),
      ...dataplanesOf(scenario, a),
      target: attemptTarget(a),
      expect: result.expect,
      expectedOutcomes: [...result.expectedOutcomes],
      mustDeny: result.mustDeny,
      verdict,
      outcome: result.outcome,
      layer: layerOf(result.outcome),
      rounds: result.rounds,
      stable: result.stable,
      leak: result.leak,
      reason:
        verdict === 'skipped'
          ? 'not attempted: the run was interrupted first'
          : verdict === 'not-judged'
            ? `not judged: the run was interrupted before the outcome settled (${result.reason})`
            : result.reason,
      ...(first ? { firstObservedAt: first.at } : {}),
      ...(last ? { lastObservedAt: last.at } : {}),
      observations: seen.map((o) => ({
        round: o.round,
        outcome: o.outcome,
        at: o.at,
        ...(o.reason ? { reason: o.reason } : {}),
      })),
      ...(deciding?.evidence ? { evidence: { ...deciding.evidence } } : {}),
      ...transitOf(a, scenario, result.outcome, deciding?.evidence),
      ...(result.diagnostics
        ? {
            diagnostics: {
              ...(result.diagnostics.source ? { source: { ...result.diagnostics.source } } : {}),
              ...(result.diagnostics.destination
                ? { destination: { ...result.diagnostics.destination } }
                : {}),
              policies: [...result.diagnostics.policies],
              reproduce: result.diagnostics.reproduce,
            },
          }
        : {}),
      ...(prediction
        ? {
            prediction: {
              ...prediction,
              reasons: [...prediction.reasons],
              ...(prediction.decidedBy ? { decidedBy: [...prediction.decidedBy] } : {}),
            },
          }
        : {}),
      origin: { file: a.origin.file, line: a.origin.line },
    };
  });

  const ablation: AblationEntry[] = (props.predictions ?? []).flatMap((p) =>
    p.ablation
      ? [
          {
            attempt: p.attempt.id,
            holdsAlone: [...p.ablation.holdsAlone],
            failsWithout: [...p.ablation.failsWithout],
            without: { ...p.ablation.without },
            alone: { ...p.ablation.alone },
          },
        ]
      : [],
  );
  const count = (v: ReportVerdict) => attempts.filter((a) => a.verdict === v).length;
  const exitCode = end ? end.exitCode : count('fail') > 0 ? 1 : 2;
  const fault = end
    ? end.fault
    : 'the run stopped without an end record (killed or crashed); attempts without a result record are judged from their observations';
  const lastSeen = records.findLast((r): r is ObservationRecord => r.type === 'observation')?.at;
  const services = scenario.workloads
    .filter((w) => w.ports.length > 0)
    .map((w) => ({
      namespace: w.namespace,
      name: w.name,
      ports: w.ports.map((p) => p.port),
      dataplane: dataPlaneOf(w),
    }));
  const method = run.method;
  // The run record's copy, so the log alone says it; a log written before it had one: the scenario's.
  const declared = run.scope ?? scenarioScope(scenario);

  return {
    v: RESULTS_JSON_VERSION,
    kind: 'bulkhead-results',
    run: {
      id: run.runId,
      startedAt: run.startedAt,
      endedAt: end?.endedAt ?? lastSeen ?? run.startedAt,
      exitCode,
      interrupted: stoppedEarly,
      kept: end?.kept ?? false,
      ...(fault ? { fault } : {}),
      trigger: env.trigger ?? 'manual',
      ...(env.change ? { change: env.change } : {}),
      ...(env.operator ? { operator: env.operator } : {}),
      ...(env.tester ? { tester: { ...env.tester } } : {}),
    },
    scope: {
      provider: env.provider ?? 'existing',
      environment: env.environment ?? 'unknown',
      cluster: run.cluster,
      ...(run.context ? { context: run.context } : {}),
      ...(env.clusterName ? { clusterName: env.clusterName } : {}),
      ...(env.clusterUid ? { clusterUid: env.clusterUid } : {}),
      tenants: [...new Set(scenario.namespaces.flatMap((n) => (n.tenant ? [n.tenant] : [])))],
      namespaces: scenario.namespaces.map((n) => ({
        name: n.name,
        ...(n.tenant ? { tenant: n.tenant } : {}),
        dataplane: namespacePlane(n),
      })),
      services,
      outOfScope: [...(env.outOfScope ?? []), ...declared.outOfScope.map(outOfScopeText)],
      ...(declared.segments.length > 0
        ? { segments: declared.segments.map((s) => ({ ...s, namespaces: [...s.namespaces] })) }
        : {}),
      ...(declared.isolate.length > 0 ? { isolate: declared.isolate.map((p) => ({ ...p })) } : {}),
      ...(policies ? { policies: policies.applied.map(objectName) } : {}),
    },
    versions: {
      bulkhead: env.versions?.bulkhead ?? props.version,
      ...(env.versions?.gitCommit ? { gitCommit: env.versions.gitCommit } : {}),
      node: env.versions?.node ?? process.version,
      ...(env.versions?.kubernetes ? { kubernetes: env.versions.kubernetes } : {}),
      ...(env.versions?.calico ? { calico: env.versions.calico } : {}),
      ...(env.versions?.istio ? { istio: env.versions.istio } : {}),
      images: { ...(env.versions?.images ?? {}) },
    },
    method: {
      scenario: { name: scenario.name, file: scenario.file, sha256: scenario.sha256 },
      defaultAttemptTimeoutMs: scenario.defaults.timeoutMs,
      stableRounds,
      ...(method?.convergeTimeoutMs === undefined ? {} : { convergeTimeoutMs: method.convergeTimeoutMs }),
      ...(method?.settleMs === undefined ? {} : { settleMs: method.settleMs }),
      ...(method?.roundIntervalMs === undefined ? {} : { roundIntervalMs: method.roundIntervalMs }),
      convergenceRule: convergenceRule(stableRounds),
      ...(footing
        ? {
            footing: {
              readBack: { ...footing.readBack },
              sidecars: { ...footing.sidecars },
              ...(footing.ambient ? { ambient: { ...footing.ambient } } : {}),
              ...(footing.gateways
                ? {
                    gateways: footing.gateways.map((g) => ({
                      ...g,
                      routes: g.routes.map((r) => ({ ...r })),
                    })),
                  }
                : {}),
            },
          }
        : {}),
      ...(barrier
        ? {
            barrier: {
              network: {
                status: barrier.network.status,
                reasoning: barrier.network.reasoning,
                ...(barrier.network.ms === undefined ? {} : { ms: barrier.network.ms }),
              },
              mesh: structuredClone(barrier.mesh),
              settleMs: barrier.settleMs,
            },
          }
        : {}),
      ...(foreign
        ? {
            clusterPolicies: {
              objects: [...foreign.objects],
              absent: [...foreign.absent],
              unreadable: [...foreign.unreadable],
              flips: foreign.flips.map((f) => ({
                ...f,
                decidedBy: [...f.decidedBy],
                reasons: [...f.reasons],
              })),
              judging: FLIP_JUDGING,
            },
          }
        : {}),
      ...(facts
        ? {
            clusterFacts: {
              apiServer: {
                value: facts.apiServer.value
                  ? { cidrs: [...facts.apiServer.value.cidrs], port: facts.apiServer.value.port }
                  : null,
                source: facts.apiServer.source,
                reasoning: facts.apiServer.reasoning,
              },
              dns: { status: facts.dns.status, reasoning: facts.dns.reasoning },
              deadlines: { ...facts.deadlines },
            },
          }
        : {}),
    },
    summary: {
      attempts: attempts.length,
      passed: count('pass'),
      failed: count('fail'),
      errors: count('error'),
      skipped: count('skipped'),
      notJudged: count('not-judged'),
      leaks: attempts.filter((a) => a.leak).length,
    },
    attempts,
    ...(transition ? { transition: transitionPart(transition) } : {}),
    ...(props.lint
      ? {
          lint: props.lint.map((f) => ({
            rule: f.rule,
            severity: f.severity,
            message: f.message,
            hint: f.hint,
            object: `${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name}`,
            file: f.file,
            line: f.line,
          })),
        }
      : {}),
    ...(ablation.length > 0 ? { ablation } : {}),
  };
}

/**
 * The judgement of an attempt the run never recorded one for (it stopped before judging), from
 * its observations and its expectation as written. `auto` cannot be judged without the run's
 * prediction: it is an error, said so.
 */
function judgeUnrecorded(
  attempt: Attempt,
  seen: readonly ObservationRecord[],
  stableRounds: number,
): Omit<ResultRecord, 'type'> {
  const expect = attempt.expect;
  const judgement = judgeObservations(attempt.id, seen, expect, stableRounds);
  return {
    attempt: attempt.id,
    verdict: expect.auto ? 'error' : judgement.verdict,
    outcome: judgement.outcome,
    expect: formatExpectation(expect),
    expectedOutcomes: [...expect.outcomes],
    mustDeny: isMustDeny(expect),
    category: attempt.category,
    kind: attempt.kind,
    from: `${attempt.from.namespace}/${attempt.from.name}`,
    rounds: judgement.rounds,
    stable: judgement.stable,
    leak: expect.auto ? false : judgement.leak,
    reason: expect.auto
      ? 'the expectation is auto and the run stopped before recording its prediction'
      : judgement.reason,
  };
}

/** The attempt's `dataplanes` entry, when its source is a workload of the scenario. */
function dataplanesOf(scenario: Scenario, a: Attempt): Pick<AttemptEntry, 'dataplanes'> {
  const planes = attemptPlanes(scenario.workloads, a);
  return planes ? { dataplanes: { ...planes } } : {};
}

/** The transition record as results.json holds it: the record without its type. */
function transitionPart(record: TransitionRecord): NonNullable<ResultsDocument['transition']> {
  const { type: _type, ...part } = structuredClone(record);
  return part;
}

/** What the scenario declares about segmentation, as the run record holds it. */
export function scenarioScope(
  scenario: Pick<Scenario, 'segments' | 'isolate' | 'outOfScope'>,
): NonNullable<RunRecord['scope']> {
  return {
    segments: scenario.segments.map((s) => ({
      name: s.name,
      ...(s.description === undefined ? {} : { description: s.description }),
      namespaces: [...s.namespaces],
    })),
    isolate: scenario.isolate.map((p) => ({ from: p.from, to: p.to })),
    outOfScope: scenario.outOfScope.map((o) => ({
      name: o.name,
      ...(o.reason === undefined ? {} : { reason: o.reason }),
    })),
  };
}

/** `Kind namespace/name` of a policy object, as the scope lists the controls. */
export function objectName(object: Readonly<Record<string, unknown>>): string {
  const metadata = (object.metadata ?? {}) as { namespace?: unknown; name?: unknown };
  const ns = typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : '';
  return `${typeof object.kind === 'string' ? object.kind : '?'} ${ns}${typeof metadata.name === 'string' ? metadata.name : '?'}`;
}

export type { Outcome };
