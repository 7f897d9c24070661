/**
 * `reports/<run>/results.jsonl`: the run as it happened, one JSON record per line, appended as
 * things happen, so a crash or Ctrl-C loses nothing already observed. These records are the
 * contract: `results.json` is a fold over them and the scenario (build-results.ts), so the
 * reports of a crashed run can be written later (`bulkhead report <run>/results.jsonl`).
 *
 * Records, in the order a run writes them: `run` (first: run id, scenario, where and how it
 * ran), `facts` (what the run read about the cluster, each value with its source and
 * reasoning: harness/run/cluster-facts.ts), `policies` (the policy objects as the cluster
 * stored them), `cluster-policies` (the policy objects the cluster held that the run did not
 * apply, and each prediction they flip), `footing` (what was read back and checked before any attempt:
 * harness/run/footing.ts), `barrier` (what the run waited on before round 1 and how long:
 * harness/run/canary.ts), `transition` (an upgrade-check phase only, right after `run`: the probe
 * stream through the transition that led into the phase, harness/upgrade/stream.ts),
 * `observation` (one per attempt per round), `result` (one per
 * attempt, when judged), `end` (last: exit code and totals).
 *
 * Each record carries `v`, the results contract version it was written with (the same number
 * as results.json's `v`: one contract, two shapes). A record type may gain optional fields
 * without a new version; fields a reader does not know are ignored, never an error.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import { z } from 'zod';

import { InputError, type Problem } from '../errors.js';
import { readInputFile } from '../input-file.js';
import { CATEGORIES, OUTCOMES } from '../scenario/outcomes.js';
import { isRecord } from '../values.js';
import { BARRIER_STATUS, MeshBarrierPart } from './barrier-schema.js';
import { ApiServerFact, DeadlinesFact, DnsFact } from './facts-schema.js';
import { GatewayFootingPart } from './gateway-footing-schema.js';
import { TransitionPart } from './transition-schema.js';
import { ClusterFlip, WouldChange } from './flip-schema.js';
import { ENVIRONMENTS, IsolationPair, RESULTS_JSON_VERSION, Segment, Tester } from './results-model.js';

export const RESULTS_LOG = 'results.jsonl';

const Versions = z.object({
  bulkhead: z.string().optional(),
  gitCommit: z.string().optional(),
  /** The Node.js that ran the run. */
  node: z.string().optional(),
  /** kind's own version, when kind made the cluster. */
  kind: z.string().optional(),
  kubernetes: z.string().optional(),
  calico: z.string().optional(),
  istio: z.string().optional(),
  images: z.record(z.string(), z.string()).optional(),
});

/** Where the run ran and why: what the run cannot read from the cluster by itself. */
const Environment = z.object({
  provider: z.string().optional(),
  /** A kind or k3s cluster is a replica; `--provider existing` says with `--environment`, else unknown. */
  environment: z.enum(ENVIRONMENTS).optional(),
  /** Who tested, as the operator said it (`--tester`, `--organisation`, `--independence`); not verified. */
  tester: Tester.optional(),
  trigger: z.string().optional(),
  change: z.string().optional(),
  operator: z.string().optional(),
  clusterName: z.string().optional(),
  clusterUid: z.string().optional(),
  /** The upgrade-check phase this run is. */
  phase: z.string().optional(),
  versions: Versions.optional(),
  /** SHA-256 of each pinned artifact provisioning used (istioctl archive, Calico manifests). */
  artifacts: z.record(z.string(), z.string()).optional(),
  /** True when an existing cluster of that name was used rather than created. */
  reused: z.boolean().optional(),
  /** Namespaces or systems deliberately not tested, for the auditor's scope statement. */
  outOfScope: z.array(z.string()).optional(),
});

/** The runner's settings, recorded as the method an auditor reads. */
const Method = z.object({
  stableRounds: z.number().int().min(1),
  convergeTimeoutMs: z.number().optional(),
  settleMs: z.number().optional(),
  roundIntervalMs: z.number().optional(),
  readyTimeoutMs: z.number().optional(),
});

/** The scenario's segments, isolation pairs and out-of-scope systems (harness/scenario/segments.ts). */
const ScopeSchema = z.object({
  segments: z.array(Segment),
  isolate: z.array(IsolationPair),
  outOfScope: z.array(z.object({ name: z.string(), reason: z.string().optional() })),
});

const RunRecordSchema = z.object({
  type: z.literal('run'),
  runId: z.string().min(1),
  scenario: z.string(),
  scenarioFile: z.string(),
  scenarioSha256: z.string(),
  startedAt: z.string(),
  /** The API server address, from the kubeconfig. */
  cluster: z.string(),
  context: z.string().optional(),
  attempts: z.number().int().min(0),
  environment: Environment.optional(),
  method: Method.optional(),
  /** What the scenario declares about segmentation, so the reports need only the log to say it. */
  scope: ScopeSchema.optional(),
});

const FactsRecordSchema = z.object({
  type: z.literal('facts'),
  provider: z.string().nullable(),
  apiServer: ApiServerFact,
  dns: DnsFact,
  deadlines: DeadlinesFact,
});

const PoliciesRecordSchema = z.object({
  type: z.literal('policies'),
  /** The policy objects as the cluster stored them after the run applied them, in apply order. */
  applied: z.array(z.record(z.string(), z.unknown())),
});

/**
 * The policy objects the cluster held that the run did not apply (harness/policies/cluster-policies.ts),
 * read after the run's own were applied and before round 1, and what they change in the predictions.
 */
const ClusterPoliciesRecordSchema = z.object({
  type: z.literal('cluster-policies'),
  /** Each object read, `cluster:Kind/namespace/name`. */
  objects: z.array(z.string()),
  /**
   * The same objects as the cluster returned them (without managedFields), in the order of
   * `objects`: read-only copies, which the evidence bundle keeps. Absent in runs before it was recorded.
   */
  read: z.array(z.record(z.string(), z.unknown())).optional(),
  /** `apiVersion kind` of the kinds the cluster does not serve. */
  absent: z.array(z.string()),
  /** `apiVersion kind: why` of the kinds the run's credentials may not list. */
  unreadable: z.array(z.string()),
  flips: z.array(ClusterFlip),
});

const FootingRecordSchema = z.object({
  type: z.literal('footing'),
  readBack: z.object({ fixtures: z.number().int(), policies: z.number().int() }),
  sidecars: z.object({ pods: z.number().int(), withProxy: z.number().int() }),
  /**
   * With ambient workloads: the run pods found captured by ztunnel as the scenario says, and the
   * waypoints found usable (Programmed, a pod Ready, Services WaypointBound): harness/run/ambient-footing.ts.
   */
  ambient: z.object({ captured: z.number().int(), waypoints: z.number().int() }).optional(),
  /** With ingress gateways: what was read of each and its routes (harness/run/gateway-footing.ts). */
  gateways: GatewayFootingPart.optional(),
});

/** What the run waited on before round 1, per layer (barrier-schema.ts). */
const BarrierRecordSchema = z.object({
  type: z.literal('barrier'),
  network: z.object({
    status: z.enum(BARRIER_STATUS),
    reasoning: z.string(),
    ms: z.number().optional(),
    rounds: z.number().int().optional(),
    pods: z.number().int().optional(),
  }),
  mesh: MeshBarrierPart,
  /** The extra minimum wait after the barrier (`--settle`). */
  settleMs: z.number(),
});

/** An upgrade-check phase: the probe stream through the transition into it (transition-schema.ts). */
const TransitionRecordSchema = TransitionPart.extend({ type: z.literal('transition') });

const ObservationRecordSchema = z.object({
  type: z.literal('observation'),
  attempt: z.string(),
  round: z.number().int().min(1),
  outcome: z.enum(OUTCOMES),
  at: z.string(),
  reason: z.string().optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
});

const PodDiagnostics = z.record(z.string(), z.unknown());

const ResultRecordSchema = z.object({
  type: z.literal('result'),
  attempt: z.string(),
  verdict: z.enum(['pass', 'fail', 'error']),
  /** The settled outcome, the leaking one, or the last seen. */
  outcome: z.enum(OUTCOMES),
  /** The expectation judged against, as written (`auto` resolved by the prediction). */
  expect: z.string(),
  expectedOutcomes: z.array(z.enum(OUTCOMES)),
  mustDeny: z.boolean(),
  category: z.enum(CATEGORIES),
  kind: z.enum(['http', 'tcp', 'udp', 'dns', 'api']),
  from: z.string(),
  to: z.string().optional(),
  port: z.number().int().optional(),
  rounds: z.number().int().min(0),
  stable: z.boolean(),
  leak: z.boolean(),
  reason: z.string(),
  /** What the policy model predicted from the manifests the run applied. */
  prediction: z
    .object({
      outcome: z.string(),
      layer: z.string(),
      reasons: z.array(z.string()),
      agrees: z.boolean().nullable(),
      /** The cluster's own objects (not the run's) the reasons name: `cluster:Kind/namespace/name`. */
      decidedBy: z.array(z.string()).optional(),
      /** The prediction with Calico's staged policies enforced, where it differs: a note, never a verdict. */
      wouldChange: WouldChange.optional(),
    })
    .optional(),
  /** Collected for failed and errored attempts: the pods, events, proxy logs, policies, a command. */
  diagnostics: z
    .object({
      source: PodDiagnostics.optional(),
      destination: PodDiagnostics.optional(),
      policies: z.array(z.string()),
      reproduce: z.string(),
    })
    .optional(),
});

const EndRecordSchema = z.object({
  type: z.literal('end'),
  exitCode: z.number().int().min(0).max(2),
  endedAt: z.string(),
  interrupted: z.boolean().optional(),
  kept: z.boolean().optional(),
  fault: z.string().optional(),
  execInput: z.string().optional(),
  /** How batches reached the agents: one session per source pod for the run, or one exec per pod per round (v4 exec). */
  agentSessions: z.enum(['persistent', 'per-round']).optional(),
  created: z.number().int().optional(),
  passed: z.number().int().optional(),
  failed: z.number().int().optional(),
  errors: z.number().int().optional(),
});

export const ResultsRecordSchema = z.discriminatedUnion('type', [
  RunRecordSchema,
  FactsRecordSchema,
  PoliciesRecordSchema,
  ClusterPoliciesRecordSchema,
  FootingRecordSchema,
  BarrierRecordSchema,
  TransitionRecordSchema,
  ObservationRecordSchema,
  ResultRecordSchema,
  EndRecordSchema,
]);

export type ResultsRecord = z.infer<typeof ResultsRecordSchema>;
export type RunRecord = z.infer<typeof RunRecordSchema>;
export type RunEnvironment = z.infer<typeof Environment>;
export type RunMethod = z.infer<typeof Method>;
export type FactsRecord = z.infer<typeof FactsRecordSchema>;
export type PoliciesRecord = z.infer<typeof PoliciesRecordSchema>;
export type ClusterPoliciesRecord = z.infer<typeof ClusterPoliciesRecordSchema>;
export type FootingRecord = z.infer<typeof FootingRecordSchema>;
export type BarrierRecord = z.infer<typeof BarrierRecordSchema>;
export type ObservationRecord = z.infer<typeof ObservationRecordSchema>;
export type TransitionRecord = z.infer<typeof TransitionRecordSchema>;
export type ResultRecord = z.infer<typeof ResultRecordSchema>;
export type EndRecord = z.infer<typeof EndRecordSchema>;

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** A record as a writer hands it over: without `v`, which the log adds. */
export type NewRecord = DeepReadonly<ResultsRecord>;

/** The log a run appends to. Every line is checked against its record schema before it is written. */
export class ResultsLog {
  readonly file: string;

  constructor(directory: string) {
    mkdirSync(directory, { recursive: true });
    this.file = path.join(directory, RESULTS_LOG);
  }

  /**
   * Appends one record synchronously: when this returns, the line is in the file. A record
   * that does not fit its schema is a bug in bulkhead, and throws before anything is written.
   */
  append(record: NewRecord): void {
    const checked = ResultsRecordSchema.safeParse(record);
    if (!checked.success)
      throw new Error(
        `bulkhead tried to write a malformed ${record.type} record: ${checked.error.issues
          .map((i) => `${i.path.join('.') || '(record)'}: ${i.message}`)
          .join('; ')}`,
      );
    appendFileSync(this.file, JSON.stringify({ v: RESULTS_JSON_VERSION, ...record }) + '\n');
  }
}

export interface ReadRecords {
  readonly records: readonly ResultsRecord[];
  /** True when the last line was cut off mid-write (a crash) and was left out. */
  readonly torn: boolean;
}

/** A log of the largest runs (20,000 attempts, several rounds, with evidence) fits within this. */
const MAX_LOG_BYTES = 1024 * 2 ** 20;

/**
 * The records of a results.jsonl. A torn last line (a crash mid-write) is left out and said;
 * any other line that is not a record of this contract is an error naming its line and field,
 * because a report built over a log it half understood would misstate the run.
 */
export async function readResultsRecords(file: string, shownAs = file): Promise<ReadRecords> {
  const text = await readInputFile(file, {
    shownAs,
    maxBytes: MAX_LOG_BYTES,
    describe: (why) => (why === 'no such file or directory' ? 'no such file' : `cannot read it (${why})`),
  });
  return parseResultsRecords(text, shownAs);
}

export function parseResultsRecords(text: string, file: string): ReadRecords {
  const lines = text.split('\n');
  const endsCleanly = text.endsWith('\n');
  const records: ResultsRecord[] = [];
  const problems: Problem[] = [];
  let torn = false;
  lines.forEach((raw, index) => {
    if (raw.trim() === '') return;
    const line = index + 1;
    const last = index === lines.length - 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      // Only the last line can be torn (appends are whole lines); anywhere else it is damage.
      if (last && !endsCleanly) torn = true;
      else problems.push(problem(file, line, 'not a JSON record'));
      return;
    }
    if (!isRecord(value)) {
      problems.push(problem(file, line, 'not a JSON object'));
      return;
    }
    if (value.v !== RESULTS_JSON_VERSION) {
      problems.push(
        problem(
          file,
          line,
          `record version ${String(value.v)} is not supported (this bulkhead reads ${RESULTS_JSON_VERSION})`,
          'v',
        ),
      );
      return;
    }
    const checked = ResultsRecordSchema.safeParse(value);
    if (!checked.success) {
      for (const issue of checked.error.issues.slice(0, 5))
        problems.push(
          problem(
            file,
            line,
            `${typeof value.type === 'string' ? `${value.type} record: ` : ''}${issue.message}`,
            issue.path.filter((p) => typeof p !== 'symbol').join('.'),
          ),
        );
      return;
    }
    records.push(checked.data);
  });
  if (problems.length > 0) throw new InputError(problems.slice(0, 20));
  if (records[0]?.type !== 'run')
    throw new InputError([
      problem(file, 0, 'not a bulkhead results.jsonl: its first record is not a run record'),
    ]);
  return { records, torn };
}

function problem(file: string, line: number, message: string, field = ''): Problem {
  return { file, line, column: line > 0 ? 1 : 0, path: field, message };
}
