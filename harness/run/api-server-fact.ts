/**
 * Where the Kubernetes API server is as network policy sees it. Calico enforces workload policy
 * after the `kubernetes` Service's DNAT, so an allow rule must name the endpoint addresses and
 * port, never the ClusterIP (docs/behaviour.md §A3, §A4 item 3). The `kubernetes` EndpointSlice in `default`
 * (label `kubernetes.io/service-name=kubernetes`) holds exactly those: the API servers' addresses
 * and port `https` (kubernetes/kubernetes `pkg/controlplane/reconcilers/endpointsadapter.go`;
 * live-path review item 16).
 *
 * In order: the addresses given with `--api-server`; the EndpointSlice; and only on the kind
 * provider, when the slice cannot be read, kind's docker network (`KIND_API_SERVER`). On any
 * other cluster a guess would allow the wrong addresses and judge every API attempt by the
 * guess (review item 7), so a failed or empty read is a fault naming the cause.
 */
import type { ProviderName } from '../cluster/provider.js';
import { EnvironmentError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { KIND_API_SERVER, type ApiServerEndpoints } from '../policies/options.js';
import { messageOf } from '../values.js';

/** The label tying an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface ApiServerFact {
  /** Undefined when it could not be read and nothing needs it. */
  readonly value: ApiServerEndpoints | undefined;
  readonly source: 'option' | 'endpointslice' | 'kind-default' | 'unknown';
  readonly reasoning: string;
}

interface SliceShape {
  readonly addressType?: string;
  readonly endpoints?: readonly { readonly addresses?: readonly string[] }[];
  readonly ports?: readonly { readonly port?: number; readonly name?: string }[];
}

/** The endpoints a set of `kubernetes` EndpointSlices lists, or why they do not say. */
export function endpointsOfSlices(
  slices: readonly SliceShape[],
): { endpoints: ApiServerEndpoints } | { missing: string } {
  if (slices.length === 0) return { missing: 'there is no EndpointSlice default/kubernetes' };
  const addresses = [
    ...new Set(slices.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses ?? []))),
  ];
  if (addresses.length === 0) return { missing: 'the kubernetes EndpointSlice lists no addresses' };
  const ports = slices.flatMap((s) => s.ports ?? []);
  const port = (ports.find((p) => p.name === 'https') ?? ports.find((p) => p.port))?.port;
  if (!port) return { missing: 'the kubernetes EndpointSlice lists no port' };
  return {
    endpoints: { cidrs: addresses.map((a) => (a.includes(':') ? `${a}/128` : `${a}/32`)), port },
  };
}

export async function readApiServer(
  client: KubeClient,
  props: {
    readonly provider: ProviderName | undefined;
    readonly given?: ApiServerEndpoints;
    /** The run applies a rule or predicts an attempt from it; without that a failed read is no fault. */
    readonly needed: boolean;
  },
): Promise<ApiServerFact> {
  if (props.given) {
    return {
      value: props.given,
      source: 'option',
      reasoning: `given with --api-server (${describe(props.given)}); the kubernetes EndpointSlice was not read`,
    };
  }
  let found: ReturnType<typeof endpointsOfSlices>;
  try {
    const { items } = await client.list({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      namespace: 'default',
      labelSelector: `${SERVICE_NAME_LABEL}=kubernetes`,
    });
    found = endpointsOfSlices(items as unknown as SliceShape[]);
  } catch (error) {
    found = {
      missing: `the kubernetes EndpointSlice could not be read (${messageOf(error)})`,
    };
  }
  if ('endpoints' in found) {
    return {
      value: found.endpoints,
      source: 'endpointslice',
      reasoning:
        `read from EndpointSlice default/kubernetes: ${describe(found.endpoints)}; ` +
        "Calico enforces after the kubernetes Service's DNAT, so these addresses and port, not the ClusterIP",
    };
  }
  if (props.provider === 'kind') {
    return {
      value: KIND_API_SERVER,
      source: 'kind-default',
      reasoning:
        `${found.missing}; on kind the API server is the control-plane node on docker's kind network, ` +
        `${describe(KIND_API_SERVER)} on most machines`,
    };
  }
  if (!props.needed) {
    return {
      value: undefined,
      source: 'unknown',
      reasoning: `${found.missing}; no policy the run renders and no attempt depends on it`,
    };
  }
  throw new EnvironmentError(
    `cannot tell where the API server is for the allow-api-server policy: ${found.missing}`,
    {
      hint: 'pass --api-server <cidr>[,<cidr>...][:port] with the API server addresses as pods reach them after DNAT (kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes)',
    },
  );
}

export function describe(e: ApiServerEndpoints): string {
  return `${e.cidrs.join(', ')} port ${e.port}`;
}
