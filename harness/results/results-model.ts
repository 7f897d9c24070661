/**
 * `results.json`: the finished run in one document, the input of every report (JUnit, HTML,
 * bundle, diff). Versioned: `v` changes only when a field changes meaning or goes away; new
 * optional fields keep the version. The zod schema below is the source of the committed JSON
 * Schema (`harness/results/schemas/results.v1.schema.json`, written by `npm run schema:results`).
 */
import { z } from 'zod';

import { DATA_PLANES } from '../scenario/dataplane.js';
import { CATEGORIES, OUTCOMES } from '../scenario/outcomes.js';
import { BARRIER_STATUS, MeshBarrierPart } from './barrier-schema.js';
import { ApiServerFact, DeadlinesFact, DnsFact } from './facts-schema.js';
import { GatewayFootingPart } from './gateway-footing-schema.js';
import { TransitionPart } from './transition-schema.js';
import { ClusterFlip, WouldChange } from './flip-schema.js';

export const RESULTS_JSON_VERSION = 1;

/** Where a refusal happened, read from the observed outcome (not from the model). */
export const OBSERVED_LAYERS = ['l7', 'l4', 'mtls', 'dns', 'api', 'none'] as const;
export type ObservedLayer = (typeof OBSERVED_LAYERS)[number];

/**
 * `not-judged`: an attempt of an interrupted run that was observed but never settled and had not
 * failed: neither passed nor failed (results.json before 0.2 wrote these as `pass` with
 * `stable: false`; readers still take that as not judged when the run was interrupted).
 */
export const REPORT_VERDICTS = ['pass', 'fail', 'error', 'skipped', 'not-judged'] as const;
export type ReportVerdict = (typeof REPORT_VERDICTS)[number];

const Ref = z.object({ namespace: z.string(), name: z.string() });

/**
 * What the cluster is, as the operator declared it (`--environment`); kind and k3s clusters are
 * replicas. `unknown`: not declared, and the report says exactly that.
 */
export const ENVIRONMENTS = ['production', 'staging', 'replica', 'unknown'] as const;
export type EnvironmentKind = (typeof ENVIRONMENTS)[number];

export const Segment = z.object({
  name: z.string(),
  description: z.string().optional(),
  namespaces: z.array(z.string()),
});
export const IsolationPair = z
  .object({ from: z.string(), to: z.string() })
  .describe('One direction: no workload of segment `from` may reach one of segment `to`');
export const Tester = z
  .object({
    name: z.string().optional(),
    organisation: z.string().optional(),
    independence: z.string().optional(),
  })
  .describe('Who tested, as given on the command line; bulkhead does not verify it');

const ObservationEntry = z
  .object({
    round: z.number().int().min(1),
    outcome: z.enum(OUTCOMES),
    at: z.string().describe('ISO 8601'),
    reason: z.string().optional(),
  })
  .describe('One observation of the attempt in one round');

const AttemptEntry = z.object({
  id: z.string().min(1),
  category: z.enum(CATEGORIES),
  kind: z.enum(['http', 'tcp', 'udp', 'dns', 'api']),
  description: z.string().optional(),
  from: Ref,
  to: Ref.optional().describe('The destination workload, for http, tcp and udp attempts'),
  port: z.number().int().optional(),
  dataplanes: z
    .object({ from: z.enum(DATA_PLANES), to: z.enum(DATA_PLANES).optional() })
    .optional()
    .describe(
      'The data planes of the source and of the destination workload (by Service or pod IP): sidecar, ambient, none',
    ),
  target: z
    .string()
    .describe('What was dialled or asked, as text: `ns/name:port`, `A name`, `get pods -n ns`'),
  expect: z.string().describe('The expectation as written: `denied`, `denied-l7|reset`, `allowed`'),
  expectedOutcomes: z.array(z.enum(OUTCOMES)),
  mustDeny: z.boolean().describe('True when no granting outcome is admitted: one `allowed` is a leak'),
  verdict: z.enum(REPORT_VERDICTS),
  outcome: z.enum(OUTCOMES).describe('The settled outcome, the leaking one, or the last seen'),
  layer: z.enum(OBSERVED_LAYERS).describe('Where the outcome was decided, read from the outcome'),
  rounds: z.number().int().min(0),
  stable: z.boolean(),
  leak: z.boolean(),
  reason: z.string(),
  firstObservedAt: z.string().optional(),
  lastObservedAt: z.string().optional(),
  observations: z.array(ObservationEntry),
  evidence: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("The agent's evidence for the reported outcome (status, headers, error code, echo)"),
  diagnostics: z
    .object({
      source: z.record(z.string(), z.unknown()).optional(),
      destination: z.record(z.string(), z.unknown()).optional(),
      policies: z.array(z.string()),
      reproduce: z.string(),
    })
    .optional()
    .describe('Collected for failed and errored attempts: pods, events, proxy logs, policies, a command'),
  transit: z
    .object({
      status: z.enum(['mtls', 'no-proof', 'not-meshed']),
      identity: z.string().optional(),
      reason: z.string(),
    })
    .optional()
    .describe(
      'For allowed attempts to a workload: whether the evidence proves the hop was mutual TLS (the x-forwarded-client-cert the app received names the caller), is missing that proof while both ends are meshed, or was not meshed',
    ),
  prediction: z
    .object({
      outcome: z.string(),
      layer: z.string(),
      reasons: z.array(z.string()),
      agrees: z.boolean().nullable(),
      decidedBy: z
        .array(z.string())
        .optional()
        .describe(
          "The cluster's own policy objects (not the run's) the prediction rests on: `cluster:Kind/namespace/name`",
        ),
      wouldChange: WouldChange.optional().describe(
        "The prediction with Calico's staged policies (the cluster's or the run's) enforced, where it differs from today's: a note, never a verdict",
      ),
    })
    .optional(),
  origin: z.object({ file: z.string(), line: z.number().int() }),
});

const Finding = z.object({
  rule: z.string(),
  severity: z.enum(['error', 'warning', 'info']),
  message: z.string(),
  hint: z.string(),
  object: z.string(),
  file: z.string(),
  line: z.number().int(),
});

const AblationRow = z.object({
  attempt: z.string(),
  holdsAlone: z.array(z.string()),
  failsWithout: z.array(z.string()),
  without: z.record(z.string(), z.string()),
  alone: z.record(z.string(), z.string()),
});

export const ResultsDocumentSchema = z
  .object({
    v: z.literal(RESULTS_JSON_VERSION),
    kind: z.literal('bulkhead-results'),
    run: z.object({
      id: z.string(),
      startedAt: z.string().describe('ISO 8601'),
      endedAt: z.string().describe('ISO 8601'),
      exitCode: z.number().int().min(0).max(2),
      interrupted: z.boolean(),
      kept: z.boolean(),
      fault: z.string().optional(),
      trigger: z.string().describe('scheduled, change, pre-upgrade, manual, ...'),
      change: z.string().optional().describe('A change or ticket reference'),
      operator: z.string().optional().describe('Who or what ran it (CI identity)'),
      tester: Tester.optional(),
    }),
    scope: z.object({
      provider: z.string(),
      environment: z.enum(ENVIRONMENTS),
      cluster: z.string().describe('API server address'),
      context: z.string().optional(),
      clusterName: z.string().optional(),
      clusterUid: z.string().optional().describe('The kube-system namespace UID'),
      tenants: z.array(z.string()),
      namespaces: z.array(
        z.object({
          name: z.string(),
          tenant: z.string().optional(),
          dataplane: z.enum(DATA_PLANES).optional(),
        }),
      ),
      services: z.array(
        z.object({
          namespace: z.string(),
          name: z.string(),
          ports: z.array(z.number().int()),
          dataplane: z.enum(DATA_PLANES).optional(),
        }),
      ),
      outOfScope: z.array(z.string()).describe('Systems deliberately not tested: `name: reason`'),
      segments: z
        .array(Segment)
        .optional()
        .describe("The scenario's segments: named groups of its namespaces"),
      isolate: z
        .array(IsolationPair)
        .optional()
        .describe('Which segment must not reach which, one direction per entry'),
      policies: z
        .array(z.string())
        .optional()
        .describe('The segmentation controls in scope: `Kind namespace/name` of every policy object applied'),
    }),
    versions: z.object({
      bulkhead: z.string(),
      gitCommit: z.string().optional(),
      node: z.string(),
      kubernetes: z.string().optional(),
      calico: z.string().optional(),
      istio: z.string().optional(),
      images: z.record(z.string(), z.string()),
    }),
    method: z.object({
      scenario: z.object({ name: z.string(), file: z.string(), sha256: z.string() }),
      defaultAttemptTimeoutMs: z.number(),
      stableRounds: z.number().int(),
      convergeTimeoutMs: z.number().optional(),
      settleMs: z.number().optional(),
      roundIntervalMs: z.number().optional(),
      convergenceRule: z.string(),
      footing: z
        .object({
          readBack: z.object({ fixtures: z.number().int(), policies: z.number().int() }),
          sidecars: z.object({ pods: z.number().int(), withProxy: z.number().int() }),
          ambient: z
            .object({ captured: z.number().int(), waypoints: z.number().int() })
            .optional()
            .describe(
              'With ambient workloads: run pods captured by ztunnel as the scenario says, and waypoints usable (Programmed, a pod Ready, Services WaypointBound)',
            ),
          gateways: GatewayFootingPart.optional(),
        })
        .optional()
        .describe(
          'What the run read back and checked before any attempt: objects as applied, sidecars and ztunnel capture as the scenario says, waypoints usable',
        ),
      barrier: z
        .object({
          network: z.object({
            status: z.enum(BARRIER_STATUS),
            reasoning: z.string(),
            ms: z.number().optional(),
          }),
          mesh: MeshBarrierPart,
          settleMs: z.number(),
        })
        .optional()
        .describe(
          "What the run waited on before round 1: the network canary and istiod's sync status of the sidecars (proof the policies are in force), then --settle",
        ),
      clusterPolicies: z
        .object({
          objects: z.array(z.string()).describe('Each object read: `cluster:Kind/namespace/name`'),
          absent: z.array(z.string()).describe('`apiVersion kind` of the kinds the cluster does not serve'),
          unreadable: z
            .array(z.string())
            .describe("`apiVersion kind: why` of the kinds the run's credentials may not list"),
          flips: z
            .array(ClusterFlip)
            .describe(
              'Each attempt whose prediction those objects flip, said before round 1: which objects, tier, priority and rule',
            ),
          judging: z.string().describe('How a flip is judged'),
        })
        .optional()
        .describe(
          "The policy objects the cluster held that the run did not apply (NetworkPolicy, Calico, ClusterNetworkPolicy, Istio), read after the run's own were applied and before round 1, and predicted with them",
        ),
      clusterFacts: z
        .object({
          apiServer: ApiServerFact,
          dns: DnsFact,
          deadlines: DeadlinesFact,
        })
        .optional()
        .describe('What the run read about the cluster, each fact with its source and reasoning'),
    }),
    summary: z.object({
      attempts: z.number().int(),
      passed: z.number().int(),
      failed: z.number().int(),
      errors: z.number().int(),
      skipped: z.number().int(),
      notJudged: z
        .number()
        .int()
        .optional()
        .describe('Attempts of an interrupted run observed but never settled: neither passed nor failed'),
      leaks: z.number().int(),
    }),
    attempts: z.array(AttemptEntry),
    transition: TransitionPart.optional(),
    lint: z.array(Finding).optional(),
    ablation: z.array(AblationRow).optional(),
  })
  .describe('bulkhead results.json: one finished run (scope, versions, method, every attempt judged)');

export type ResultsDocument = z.infer<typeof ResultsDocumentSchema>;
export type AttemptEntry = z.infer<typeof AttemptEntry>;
export type LintEntry = z.infer<typeof Finding>;
export type AblationEntry = z.infer<typeof AblationRow>;

/** The committed JSON Schema, generated from the zod schema above. */
export function resultsJsonSchema(): Record<string, unknown> {
  return {
    $id: 'https://bulkhead.dev/schemas/results.v1.schema.json',
    title: 'bulkhead results.json v1',
    ...z.toJSONSchema(ResultsDocumentSchema, { target: 'draft-2020-12' }),
  };
}
