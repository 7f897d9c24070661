/**
 * Builds `results.json` from what a run leaves: the runner's judgements (RunResult) and the
 * lines of `results.jsonl` (start, every observation with its evidence, end). Pure: data in,
 * document out; reading the log file is `readResultsLog`.
 */
import { readFile } from 'node:fs/promises';

import type { PlannedAttempt } from '../model/plan.js';
import type { Finding } from '../lint/types.js';
import type { RunResult } from '../run/runner.js';
import type { Prediction } from '../model/types.js';
import { formatExpectation, isMustDeny, OUTCOMES, satisfies, type Outcome } from '../scenario/outcomes.js';
import { refText, type Attempt, type Scenario } from '../scenario/types.js';
import { layerOf } from './layers.js';
import {
  RESULTS_JSON_VERSION,
  type AblationEntry,
  type AttemptEntry,
  type ReportVerdict,
  type ResultsDocument,
} from './results-model.js';

/** What the run cannot know by itself: where it ran, why, and with which versions. */
export interface RunEnvironment {
  /** @default 'existing' */
  readonly provider?: string;
  /** A kind or k3s cluster is a replica; `--provider existing` may be production. @default 'unknown' */
  readonly environment?: 'production' | 'replica' | 'unknown';
  /** @default 'manual' */
  readonly trigger?: string;
  readonly change?: string;
  readonly operator?: string;
  readonly clusterName?: string;
  readonly clusterUid?: string;
  readonly versions?: {
    readonly bulkhead?: string;
    readonly gitCommit?: string;
    readonly kubernetes?: string;
    readonly calico?: string;
    readonly istio?: string;
    readonly images?: Readonly<Record<string, string>>;
  };
  /** The runner settings used (RunnerProps); recorded as the method. */
  readonly stableRounds?: number;
  readonly convergeTimeoutMs?: number;
  readonly settleMs?: number;
  readonly roundIntervalMs?: number;
  /** Namespaces or systems deliberately not tested, for the auditor's scope statement. */
  readonly outOfScope?: readonly string[];
}

export type LogLine = Readonly<Record<string, unknown>> & { readonly type: string };

/** The lines of a results.jsonl; a torn last line (a crash mid-write) is left out. */
export async function readResultsLog(file: string): Promise<LogLine[]> {
  const text = await readFile(file, 'utf8');
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    try {
      const value = JSON.parse(raw) as unknown;
      if (typeof value === 'object' && value !== null && typeof (value as LogLine).type === 'string')
        lines.push(value as LogLine);
    } catch {
      // Only the last line can be torn; anything unreadable is not evidence.
    }
  }
  return lines;
}

export interface BuildResultsProps {
  readonly result: RunResult;
  readonly scenario: Scenario;
  readonly log: readonly LogLine[];
  readonly environment?: RunEnvironment;
  /** The bulkhead version (package.json). */
  readonly version: string;
  readonly predictions?: readonly PlannedAttempt[];
  readonly lint?: readonly Finding[];
  /** `Kind namespace/name` of every policy object the run applied (the controls in scope). */
  readonly policies?: readonly string[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const isOutcome = (v: unknown): v is Outcome => typeof v === 'string' && OUTCOMES.includes(v as Outcome);

export function targetText(a: Attempt): string {
  switch (a.kind) {
    case 'dns':
      return `${a.query.type} ${a.query.name}`;
    case 'api': {
      const r = a.request;
      return `${r.verb} ${r.group ? `${r.group}/` : ''}${r.resource}${r.namespace ? ` -n ${r.namespace}` : ''}`;
    }
    case 'http':
    case 'tcp':
    case 'udp':
    default:
      return `${refText(a.to)}:${a.port.port}`;
  }
}

/**
 * What the runner recorded about the cluster in the `run` line (`environment`: provider and
 * versions, flat or under `versions`); values given to the report take precedence.
 */
function recordedEnvironment(runLine: LogLine | undefined): RunEnvironment {
  const e = runLine?.environment;
  if (typeof e !== 'object' || e === null) return {};
  const rec = e as Record<string, unknown>;
  const nested =
    typeof rec.versions === 'object' && rec.versions !== null
      ? (rec.versions as Record<string, unknown>)
      : {};
  const pickVersion = (k: string) => str(rec[k]) ?? str(nested[k]);
  const versions = Object.fromEntries(
    ['kubernetes', 'calico', 'istio'].flatMap((k) => {
      const v = pickVersion(k);
      return v ? [[k, v]] : [];
    }),
  );
  return {
    ...(str(rec.provider) ? { provider: str(rec.provider) } : {}),
    ...(Object.keys(versions).length > 0 ? { versions } : {}),
  };
}

export function convergenceRule(stableRounds: number): string {
  return (
    `Each attempt is repeated in rounds until its outcome is the same in ${stableRounds} consecutive rounds ` +
    `or the deadline passes. A must-deny attempt observed allowed in any round after the policies were ` +
    `applied is a failure (a leak), whatever later rounds show. An attempt that did not settle passes only ` +
    `if every round satisfied its expectation. A probe error never satisfies an expectation.`
  );
}

export function buildResults(props: BuildResultsProps): ResultsDocument {
  const { result, scenario, log } = props;
  const runLine = log.find((l) => l.type === 'run');
  const recorded = recordedEnvironment(runLine);
  const env: RunEnvironment = {
    ...recorded,
    ...props.environment,
    versions: { ...recorded.versions, ...props.environment?.versions },
  };
  const endLine = [...log].reverse().find((l) => l.type === 'end');
  const observations = new Map<string, LogLine[]>();
  for (const line of log) {
    if (line.type !== 'observation') continue;
    const id = str(line.attempt) ?? '';
    observations.set(id, [...(observations.get(id) ?? []), line]);
  }
  const predictions = new Map((props.predictions ?? []).map((p) => [p.attempt.id, p]));
  const stableRounds = env.stableRounds ?? 3;

  const attempts = result.results.map((r): AttemptEntry => {
    const a = r.attempt;
    const seen = observations.get(a.id) ?? [];
    const verdict: ReportVerdict =
      r.judgement.verdict === 'error' && r.judgement.rounds === 0 && result.interrupted
        ? 'skipped'
        : r.judgement.verdict;
    // The evidence shown is that of the observation the verdict rests on: the leaking round for
    // a leak, otherwise the last one.
    const deciding = r.judgement.leak ? seen.find((o) => o.outcome === r.judgement.outcome) : seen.at(-1);
    const evidence = deciding?.evidence;
    const planned = predictions.get(a.id);
    // The runner records the model's prediction from the manifests it applied, when it had one.
    const runnerPrediction = (r as { prediction?: Prediction }).prediction;
    const diagnostics = r.evidence
      ? {
          ...(r.evidence.source ? { source: { ...r.evidence.source } } : {}),
          ...(r.evidence.destination ? { destination: { ...r.evidence.destination } } : {}),
          policies: [...r.evidence.policies],
          reproduce: r.evidence.reproduce,
        }
      : undefined;
    return {
      id: a.id,
      category: a.category,
      kind: a.kind,
      ...(a.description ? { description: a.description } : {}),
      from: { namespace: a.from.namespace, name: a.from.name },
      ...('to' in a ? { to: { namespace: a.to.namespace, name: a.to.name }, port: a.port.port } : {}),
      target: targetText(a),
      expect: formatExpectation(r.expect),
      expectedOutcomes: [...r.expect.outcomes],
      mustDeny: isMustDeny(r.expect),
      verdict,
      outcome: r.judgement.outcome,
      layer: layerOf(r.judgement.outcome),
      rounds: r.judgement.rounds,
      stable: r.judgement.stable,
      leak: r.judgement.leak,
      reason: verdict === 'skipped' ? 'not attempted: the run was interrupted first' : r.judgement.reason,
      ...(seen[0] && str(seen[0].at) ? { firstObservedAt: str(seen[0].at) } : {}),
      ...(seen.at(-1) && str(seen.at(-1)?.at) ? { lastObservedAt: str(seen.at(-1)?.at) } : {}),
      observations: seen.flatMap((o) =>
        isOutcome(o.outcome) && typeof o.round === 'number'
          ? [
              {
                round: o.round,
                outcome: o.outcome,
                at: str(o.at) ?? '',
                ...(str(o.reason) ? { reason: str(o.reason) } : {}),
              },
            ]
          : [],
      ),
      ...(evidence && typeof evidence === 'object' ? { evidence: { ...evidence } } : {}),
      ...(diagnostics ? { diagnostics } : {}),
      ...(planned
        ? {
            prediction: {
              outcome: planned.predicted.outcome,
              layer: planned.predicted.layer,
              reasons: [...planned.predicted.reasons],
              agrees: planned.agrees,
            },
          }
        : runnerPrediction
          ? {
              prediction: {
                outcome: runnerPrediction.outcome,
                layer: runnerPrediction.layer,
                reasons: [...runnerPrediction.reasons],
                agrees:
                  runnerPrediction.outcome === 'unknown'
                    ? null
                    : satisfies(r.expect, runnerPrediction.outcome),
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
  const fault = str(endLine?.fault);
  const runStarted = str(runLine?.startedAt) ?? attempts.map((a) => a.firstObservedAt).find(Boolean) ?? '';
  const services = scenario.workloads
    .filter((w) => w.ports.length > 0)
    .map((w) => ({ namespace: w.namespace, name: w.name, ports: w.ports.map((p) => p.port) }));

  return {
    v: RESULTS_JSON_VERSION,
    kind: 'bulkhead-results',
    run: {
      id: result.runId,
      startedAt: runStarted,
      endedAt: str(endLine?.endedAt) ?? runStarted,
      exitCode: result.exitCode,
      interrupted: result.interrupted,
      kept: result.kept,
      ...(fault ? { fault } : {}),
      trigger: env.trigger ?? 'manual',
      ...(env.change ? { change: env.change } : {}),
      ...(env.operator ? { operator: env.operator } : {}),
    },
    scope: {
      provider: env.provider ?? 'existing',
      environment: env.environment ?? 'unknown',
      cluster: str(runLine?.cluster) ?? '',
      ...(str(runLine?.context) ? { context: str(runLine?.context) } : {}),
      ...(env.clusterName ? { clusterName: env.clusterName } : {}),
      ...(env.clusterUid ? { clusterUid: env.clusterUid } : {}),
      tenants: [...new Set(scenario.namespaces.flatMap((n) => (n.tenant ? [n.tenant] : [])))],
      namespaces: scenario.namespaces.map((n) => ({
        name: n.name,
        ...(n.tenant ? { tenant: n.tenant } : {}),
      })),
      services,
      outOfScope: [...(env.outOfScope ?? [])],
      ...(props.policies ? { policies: [...props.policies] } : {}),
    },
    versions: {
      bulkhead: env.versions?.bulkhead ?? props.version,
      ...(env.versions?.gitCommit ? { gitCommit: env.versions.gitCommit } : {}),
      node: process.version,
      ...(env.versions?.kubernetes ? { kubernetes: env.versions.kubernetes } : {}),
      ...(env.versions?.calico ? { calico: env.versions.calico } : {}),
      ...(env.versions?.istio ? { istio: env.versions.istio } : {}),
      images: { ...(env.versions?.images ?? {}) },
    },
    method: {
      scenario: { name: scenario.name, file: scenario.file, sha256: scenario.sha256 },
      defaultAttemptTimeoutMs: scenario.defaults.timeoutMs,
      stableRounds,
      ...(env.convergeTimeoutMs === undefined ? {} : { convergeTimeoutMs: env.convergeTimeoutMs }),
      ...(env.settleMs === undefined ? {} : { settleMs: env.settleMs }),
      ...(env.roundIntervalMs === undefined ? {} : { roundIntervalMs: env.roundIntervalMs }),
      convergenceRule: convergenceRule(stableRounds),
      ...(props.result.footing ? { footing: props.result.footing } : {}),
      ...(props.result.facts
        ? {
            clusterFacts: {
              apiServer: {
                value: props.result.facts.apiServer.value
                  ? {
                      cidrs: [...props.result.facts.apiServer.value.cidrs],
                      port: props.result.facts.apiServer.value.port,
                    }
                  : null,
                source: props.result.facts.apiServer.source,
                reasoning: props.result.facts.apiServer.reasoning,
              },
              dns: { status: props.result.facts.dns.status, reasoning: props.result.facts.dns.reasoning },
              deadlines: { ...props.result.facts.deadlines },
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
      leaks: attempts.filter((a) => a.leak).length,
    },
    attempts,
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
