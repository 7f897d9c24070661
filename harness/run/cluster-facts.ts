/**
 * What a run needs to know about the cluster that the scenario does not say, read (never changed)
 * from the cluster itself, each fact with where it came from and why the run uses it:
 *
 * - the API server as policy sees it (harness/run/api-server-fact.ts),
 * - the DNS path the pods really use (harness/run/dns-fact.ts),
 * - the deadlines of attempts made through a sidecar, from the mesh's connect timeout and retries
 *   (harness/run/mesh-deadlines.ts).
 *
 * Read in two steps: before anything is created (so a cluster bulkhead cannot describe is refused
 * with nothing to clean up), then, once the pods are ready, a probe pod's resolvers. The result
 * feeds the policy render, the policy model and the agent batches, and goes to results.jsonl as
 * one `facts` line for the report's method section.
 */
import type { KubeConfig } from '@kubernetes/client-node';

import type { ProviderName } from '../cluster/provider.js';
import type { KubeClient } from '../kube/client.js';
import type { ClusterFacts as ModelFacts, Prediction } from '../model/types.js';
import { KUBEADM_DNS, type ApiServerEndpoints, type RenderOptions } from '../policies/options.js';
import { policyFiles } from '../policies/render.js';
import { refText, type Attempt, type Scenario } from '../scenario/types.js';
import { readApiServer, type ApiServerFact } from './api-server-fact.js';
import { decideDns, readDnsService, readNameservers, type DnsFact } from './dns-fact.js';
import { meshDeadlines, readMeshTimeouts, type MeshDeadlines } from './mesh-deadlines.js';

type Predict = (attempt: Attempt) => Prediction | undefined;

export interface ClusterFactsProps {
  readonly client: KubeClient;
  readonly scenario: Scenario;
  /** Where the cluster came from; only `kind` has fallbacks for what cannot be read. */
  readonly provider: ProviderName | undefined;
  /** Given by the user (`--api-server`): the EndpointSlice is then not read. */
  readonly apiServer?: ApiServerEndpoints;
}

/** The `facts` line of results.jsonl: every fact with its value, source and reasoning. */
export interface FactsRecord {
  readonly provider: ProviderName | null;
  readonly apiServer: {
    readonly value: ApiServerEndpoints | null;
    readonly source: ApiServerFact['source'];
    readonly reasoning: string;
  };
  readonly dns: {
    readonly status: DnsFact['status'];
    /** What allow-dns allows (pods in kube-system and their ports); null when bulkhead wrote no rule. */
    readonly allowDns: RenderOptions['dns'] | null;
    readonly reasoning: string;
    readonly observed: DnsFact['observed'];
  };
  readonly deadlines: MeshDeadlines['record'];
}

export interface ClusterFacts {
  /** For renderPolicySources: the API server and DNS endpoints the cluster has. */
  readonly renderOptions: RenderOptions;
  /** For the policy model, matching what was rendered. */
  readonly modelFacts: Partial<ModelFacts>;
  /** Attempt id → the deadline the agent gets, where it differs from the attempt's timeoutMs. */
  readonly deadlines: ReadonlyMap<string, number>;
  /** The model's predictions, less those resting on a DNS path bulkhead could not read. */
  readonly predictions: (inner: Predict | undefined) => Predict | undefined;
  readonly record: FactsRecord;
}

export interface PendingFacts {
  readonly apiServer: ApiServerFact;
  readonly deadlines: MeshDeadlines;
  /** Completes the facts with a ready pod's resolvers (`namespace/workload` → pod name). */
  settle(props: {
    readonly kubeConfig: KubeConfig;
    readonly pods: ReadonlyMap<string, string>;
    readonly signal?: AbortSignal;
  }): Promise<ClusterFacts>;
}

/** Whether the built-in bundle, which renders allow-dns and allow-api-server, is applied. */
function usesHardIsolation(scenario: Scenario): boolean {
  return scenario.policies.some((p) => p.kind === 'builtin' && p.name === 'hard-isolation');
}

/** The facts that need no pod: read before anything is created. Throws EnvironmentError on a refusal. */
export async function readClusterFacts(props: ClusterFactsProps): Promise<PendingFacts> {
  const { client, scenario, provider } = props;
  const bundle = usesHardIsolation(scenario);
  const apiServer = await readApiServer(client, {
    provider,
    ...(props.apiServer ? { given: props.apiServer } : {}),
    needed: bundle || scenario.attempts.some((a) => a.kind === 'api'),
  });
  const mesh = await readMeshTimeouts(client, scenario.meshRootNamespace);
  const deadlines = meshDeadlines(scenario, mesh, policyFiles(scenario));
  const service = await readDnsService(client);

  return {
    apiServer,
    deadlines,
    async settle({ kubeConfig, pods, signal }) {
      const probe = probePod(scenario, pods);
      const resolver = probe
        ? await readNameservers(kubeConfig, { ...probe, ...(signal ? { signal } : {}) }).then((r) =>
            'nameservers' in r ? { ...r, pod: `${probe.namespace}/${probe.pod}` } : r,
          )
        : { reason: 'no ready pod to read /etc/resolv.conf in' };
      const dns = decideDns({ service, resolver, provider, needed: bundle });
      const renderOptions: RenderOptions = {
        ...(apiServer.value ? { apiServer: apiServer.value } : {}),
        ...(dns.render ? { dns: dns.render } : {}),
      };
      const modelFacts: Partial<ModelFacts> = {
        ...(apiServer.value ? { apiServer: apiServer.value } : {}),
        ...(dns.model ? { dns: dns.model } : {}),
      };
      return {
        renderOptions,
        modelFacts,
        deadlines: deadlines.deadlines,
        predictions: (inner) =>
          inner && dns.status === 'unknown' ? withoutDns(inner, dns.reasoning) : inner,
        record: {
          provider: provider ?? null,
          apiServer: {
            value: apiServer.value ?? null,
            source: apiServer.source,
            reasoning: apiServer.reasoning,
          },
          dns: {
            status: dns.status,
            allowDns: dns.status === 'unknown' ? null : (dns.render ?? KUBEADM_DNS),
            reasoning: dns.reasoning,
            observed: dns.observed,
          },
          deadlines: deadlines.record,
        },
      };
    },
  };
}

/** The pod whose resolvers stand for all: the first attempt's source, else any run pod. */
function probePod(
  scenario: Scenario,
  pods: ReadonlyMap<string, string>,
): { namespace: string; pod: string } | undefined {
  const key = scenario.attempts.map((a) => refText(a.from)).find((k) => pods.has(k)) ?? [...pods.keys()][0];
  const pod = key === undefined ? undefined : pods.get(key);
  if (key === undefined || !pod) return undefined;
  return { namespace: key.slice(0, key.indexOf('/')), pod };
}

function withoutDns(inner: Predict, why: string): Predict {
  return (attempt) =>
    attempt.kind === 'dns'
      ? {
          outcome: 'unknown',
          layer: 'dns',
          reasons: [`the pods' DNS path is not one the model knows: ${why}`],
        }
      : inner(attempt);
}
