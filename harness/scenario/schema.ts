/**
 * The scenario language, v1alpha1, as a zod schema. This is the single definition: the loader
 * validates with it, and `bulkhead schema` derives the committed JSON Schema from it.
 * Defaults documented here are applied by zod; cross-references (a workload's namespace, an
 * attempt's `from`) are checked by the loader, which knows the whole document.
 */
import { z } from 'zod';

import { DATA_PLANES, WAYPOINT_FOR } from './dataplane.js';
import { ATTEMPT_KINDS, CATEGORIES, EXPECT_WORDS } from './outcomes.js';
import { gatewayFields } from './gateways.js';
import { segmentFields } from './segments.js';

export const API_VERSION = 'bulkhead.dev/v1alpha1';

/** generators.ts MAX_ATTEMPTS, as the schema's descriptions state it (a test holds them equal). */
const ATTEMPT_CAP = '20,000';
export const KIND = 'Scenario';

const dnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label: lower-case letters, digits and "-"');

const dnsSubdomain = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a DNS-1123 subdomain: lower-case letters, digits, "-" and "."',
  );

const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    'must be a Kubernetes label key',
  );
const labelValue = z
  .string()
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/, 'must be a Kubernetes label value');
const labels = z.record(labelKey, labelValue);

const portNumber = z.int().min(1).max(65535);
const portName = z
  .string()
  .max(15)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be an IANA service name: lower-case letters, digits and "-"',
  );

const ipAddress = z.union([z.ipv4(), z.ipv6()]);

export const PortSchema = z
  .strictObject({
    port: portNumber,
    protocol: z.enum(['TCP', 'UDP']).default('TCP'),
    name: portName
      .optional()
      .meta({ description: 'Named ports get SRV records and can be named in attempts.' }),
  })
  .meta({ description: 'A port the workload serves (the agent echoes on it).' });

const workloadFields = {
  name: dnsLabel.meta({ description: 'Pod (Deployment) and Service name.' }),
  labels: labels.optional().meta({ description: 'Pod labels. Default: {app: <name>}.' }),
  serviceAccount: dnsSubdomain.default('default').meta({ description: 'Service account the pod runs as.' }),
  sidecar: z.boolean().optional().meta({
    description:
      "Whether the pod gets an Istio sidecar: true is dataplane: sidecar, false is dataplane: none. Default: the namespace's data plane.",
  }),
  dataplane: z.enum(DATA_PLANES).optional().meta({
    description:
      "How the pod joins the mesh: sidecar (injected Envoy), ambient (captured by ztunnel) or none (out of the mesh). Default: the namespace's.",
  }),
  ports: z
    .array(z.union([portNumber, PortSchema]))
    .default([])
    .meta({ description: 'Ports served; a bare number means TCP. None: a client-only workload (a probe).' }),
  ip: ipAddress.optional().meta({ description: 'Pod address, used only offline to evaluate ipBlock rules.' }),
  automountToken: z
    .boolean()
    .default(true)
    .meta({ description: 'Whether the service account token is mounted (Kubernetes default: true).' }),
  nodePort: z.boolean().default(false).meta({
    description:
      "Also expose the workload's ports through a Service of type NodePort, <name>-nodeport, whose node ports the API server allocates (30000-32767 by default) and a run reads back; the node generator then tries them from other tenants.",
  }),
} as const;

export const WorkloadSchema = z
  .strictObject({ ...workloadFields, namespace: dnsLabel })
  .meta({ description: 'A pod the scenario deploys; every workload runs the agent.' });

export const WaypointSchema = z
  .strictObject({
    name: dnsLabel
      .default('waypoint')
      .meta({ description: 'Gateway name; the waypoint runs as this service account.' }),
    for: z.enum(WAYPOINT_FOR).default('service').meta({
      description:
        'Traffic it takes (istio.io/waypoint-for): service (calls to a Service), workload (calls to a pod IP) or all.',
    }),
    services: z
      .union([z.literal('all'), z.array(dnsLabel).min(1)])
      .default('all')
      .meta({
        description:
          "Which workloads use it: all (the namespace is labelled istio.io/use-waypoint) or a list of this namespace's workload names (their Service and pod are labelled).",
      }),
  })
  .meta({
    description:
      'A waypoint proxy (a Gateway of class istio-waypoint) for L7 policy in an ambient namespace.',
  });

const dataplaneField = z.enum(DATA_PLANES).optional().meta({
  description: 'Data plane of the namespace: sidecar (injection), ambient (ztunnel capture) or none.',
});
const waypointsField = z.array(WaypointSchema).default([]).meta({
  description: 'Waypoints of an ambient namespace; at most one may take all its workloads.',
});

export const NamespaceSchema = z.strictObject({
  name: dnsLabel,
  labels: labels.default({}),
  injection: z.boolean().optional().meta({
    description: 'Istio sidecar injection: true is dataplane: sidecar, false is none. Default: false.',
  }),
  dataplane: dataplaneField,
  waypoints: waypointsField,
  tenant: dnsLabel
    .optional()
    .meta({ description: 'The tenant owning this namespace. Namespaces without a tenant are shared.' }),
});

export const TenantSchema = z
  .strictObject({
    name: dnsLabel.meta({ description: 'Tenant name; also the value of the namespace label `tenant`.' }),
    namespace: dnsLabel.optional().meta({ description: 'Default: <spec.tenantNamespacePrefix><name>.' }),
    labels: labels
      .default({})
      .meta({ description: 'Extra namespace labels (`tenant: <name>` is always set).' }),
    injection: z.boolean().optional().meta({
      description: 'Istio sidecar injection: true is dataplane: sidecar, false is none. Default: true.',
    }),
    dataplane: dataplaneField,
    waypoints: waypointsField,
    probes: z.boolean().default(true).meta({
      description:
        "Add two client-only workloads: `probe` (the namespace's data plane) and `probe-nosidecar` (out of the mesh).",
    }),
    workloads: z.array(z.strictObject(workloadFields)).default([]),
  })
  .meta({ description: 'Shorthand for a tenant namespace with its workloads.' });

/** A destination outside the cluster a built-in bundle lets tenants reach. */
export const EgressAllowanceSchema = z
  .strictObject({
    cidr: z.union([z.cidrv4(), z.cidrv6(), ipAddress]).meta({ description: 'An address or CIDR.' }),
    ports: z
      .array(portNumber)
      .min(1)
      .optional()
      .meta({ description: 'TCP ports allowed there. Default: every port.' }),
  })
  .meta({ description: 'An egress destination outside the cluster that tenants may reach.' });

export const PolicyRefSchema = z
  .strictObject({
    builtin: z
      .enum(['hard-isolation', 'article'])
      .optional()
      .meta({ description: 'A built-in bundle rendered for every tenant of the scenario.' }),
    allowEgress: z.array(EgressAllowanceSchema).optional().meta({
      description:
        'With builtin hard-isolation: destinations outside the cluster every tenant may reach (a NetworkPolicy per tenant namespace). Nodes, the metadata service and every other outside address stay denied.',
    }),
    file: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'A manifest file or folder, relative to the scenario file; multi-document.' }),
    inline: z.string().optional().meta({ description: 'Multi-document YAML.' }),
    clusterPolicy: z.enum(['calico', 'cnp']).optional().meta({
      description:
        'With builtin: hard-isolation, where its cross-tenant deny goes: a Calico tier (calico, the default) or a ClusterNetworkPolicy in the Admin tier (cnp, Calico >= 3.32.1).',
    }),
  })
  .refine((p) => [p.builtin, p.file, p.inline].filter((v) => v !== undefined).length === 1, {
    message: 'a policy entry needs exactly one of builtin, file, inline',
  })
  .refine((p) => p.allowEgress === undefined || p.builtin === 'hard-isolation', {
    message: 'allowEgress belongs to builtin: hard-isolation',
    path: ['allowEgress'],
  })
  .refine((p) => p.clusterPolicy === undefined || p.builtin === 'hard-isolation', {
    message: 'clusterPolicy applies to builtin: hard-isolation only',
    path: ['clusterPolicy'],
  });

const workloadRef = z
  .string()
  .regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, 'must be "namespace/workload"')
  .meta({ description: 'namespace/workload' });

const expectWord = z.enum(EXPECT_WORDS);
const expect = z
  .union([expectWord, z.array(expectWord).min(1)])
  .meta({ description: 'An outcome, a group (denied), auto, or a list of them.' });

const headers = z.record(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'),
  z.string(),
);

export const HttpRequestSchema = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Z]+$/, 'must be an upper-case HTTP method')
    .default('GET'),
  path: z.string().regex(/^\//, 'must start with /').default('/'),
  headers: headers.default({}),
  body: z.string().optional(),
});

const attemptId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/>@-]*$/, 'may use letters, digits and . _ : / > @ -');

const attemptCommon = {
  id: attemptId.meta({ description: 'Unique and stable across runs; reports and diffs key on it.' }),
  from: workloadRef.meta({ description: 'The workload whose pod makes the attempt.' }),
  expect: expect.default('auto'),
  category: z.enum(CATEGORIES).optional().meta({ description: 'Default: inferred from source and target.' }),
  timeoutMs: z.int().min(100).max(600_000).optional().meta({
    description:
      'Default: spec.defaults.timeoutMs, lengthened on a run for http and tcp attempts from a sidecar to outlast the mesh connect timeout and retries. A value given here is kept as it is.',
  }),
  description: z.string().optional(),
};

/** Destinations that are not Service names (harness/scenario/address-target.ts). */
export const AddressToSchema = z.union([
  z
    .strictObject({ address: ipAddress })
    .meta({ description: 'A literal address, e.g. outside the cluster (egress) or 169.254.169.254.' }),
  z.strictObject({ podIp: workloadRef }).meta({
    description: "The workload's pod IP, read at run time: no Service, no DNS, no Service-level mesh config.",
  }),
  z
    .strictObject({ node: z.literal('own') })
    .meta({ description: "The node the source pod runs on (the pod's status.hostIP), read at run time." }),
  z.strictObject({ nodePort: workloadRef }).meta({
    description:
      "The node the source pod runs on, at the node port of the workload's NodePort Service (nodePort: true) for the attempt's port, read at run time.",
  }),
  z.strictObject({ internet: z.literal(true) }).meta({
    description:
      "bulkhead's stand-in for the internet: its target container on kind's network, else a public address.",
  }),
]);

const targetFields = {
  to: z.union([workloadRef, AddressToSchema]).meta({
    description:
      'Target workload, reached by its Service name; or an address, a pod IP, the own node, or the internet.',
  }),
  port: z.union([portNumber, portName]).optional().meta({
    description:
      "A port number or name of the target. Default: the target's only port of that protocol. A number the target does not serve aims at a closed port: expect refused, unless a policy drops it first. A number for an address, the node or the internet.",
  }),
};

const payload = z.strictObject({ send: z.string().optional() });

export const DnsQuerySchema = z.strictObject({
  name: z.string().min(1),
  type: z.enum(['A', 'AAAA', 'SRV', 'PTR']).default('A'),
});

const dnsServer = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'must be "host" or "host:port"')
  .meta({ description: "Resolver to ask; default: the pod's own (/etc/resolv.conf)." });

export const ApiRequestSchema = z.strictObject({
  verb: z.enum(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']),
  resource: z.string().regex(/^[a-z0-9.-]+(\/[a-z]+)?$/, 'must be a resource name like secrets or pods/exec'),
  group: z.string().default('').meta({ description: 'API group; "" for the core group.' }),
  version: z.string().default('v1'),
  namespace: z.string().optional().meta({ description: 'Omit for a cluster-scoped request.' }),
  name: z.string().optional(),
});

export const AttemptSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...attemptCommon,
    kind: z.literal('http'),
    ...targetFields,
    http: HttpRequestSchema.prefault({}),
  }),
  z.strictObject({ ...attemptCommon, kind: z.literal('tcp'), ...targetFields, tcp: payload.prefault({}) }),
  z.strictObject({ ...attemptCommon, kind: z.literal('udp'), ...targetFields, udp: payload.prefault({}) }),
  z.strictObject({
    ...attemptCommon,
    kind: z.literal('dns'),
    query: DnsQuerySchema,
    dnsServer: dnsServer.optional(),
  }),
  z.strictObject({ ...attemptCommon, kind: z.literal('api'), request: ApiRequestSchema }),
]);

const sourceSelector = z
  .union([z.enum(['probes', 'all']), z.array(workloadRef).min(1)])
  .meta({ description: 'Sources: client-only workloads (probes), all workloads, or a list.' });

const generatorCommon = {
  from: sourceSelector.default('probes'),
  expect: expect.optional().meta({ description: 'Default: the generator kind’s own expectation.' }),
  exclude: z.array(z.string()).default([]).meta({ description: 'Generated attempt ids to leave out.' }),
  timeoutMs: attemptCommon.timeoutMs,
};

/** Templates in generator paths and header values: {source} {sourceNamespace} {victim} {victimNamespace} {trustDomain}. */
const templated = {
  description: 'May use {source}, {sourceNamespace}, {victim}, {victimNamespace}, {trustDomain}.',
};

const escapeSource = sourceSelector.default('probes').meta({
  description:
    'Sources: probes, all, or a list. A source with a sidecar sends through Envoy, whose passthrough hides what refused it (fact O7): probe from pods without one to observe the network.',
});

export const EscapeGeneratorSchemas = [
  z
    .strictObject({
      ...generatorCommon,
      from: escapeSource,
      kind: z.literal('node'),
      ports: z
        .array(portNumber)
        .min(1)
        .default([10250, 22])
        .meta({ description: 'Ports on the node: the kubelet (10250) and SSH (22) by default.' }),
      nodePorts: z.boolean().default(true).meta({
        description:
          "Also the node ports of other tenants' workloads that declare nodePort: true (each TCP port, read at run time).",
      }),
    })
    .meta({
      description:
        "Each source to the node it runs on (its hostIP, read at run time), over TCP: its ports, and the node ports of other tenants' NodePort Services. Default expect: denied.",
    }),
  z
    .strictObject({
      ...generatorCommon,
      from: escapeSource,
      kind: z.literal('metadata'),
      ipv6: z.boolean().default(false).meta({
        description:
          'Also fd00:ec2::254, the IPv6 form on AWS Nitro; set it where the cluster is dual-stack.',
      }),
      http: HttpRequestSchema.default({ method: 'GET', path: '/latest/meta-data/', headers: {} }),
    })
    .meta({
      description:
        "Each source to the cloud's instance metadata service, 169.254.169.254:80. Default expect: denied.",
    }),
  z
    .strictObject({
      ...generatorCommon,
      from: escapeSource,
      kind: z.literal('egress'),
      to: z
        .array(z.union([z.cidrv4(), z.cidrv6(), ipAddress]))
        .min(1)
        .optional()
        .meta({
          description:
            "Addresses or CIDRs outside the cluster (a CIDR is dialled at its first host address). Default: bulkhead's stand-in for the internet.",
        }),
      port: portNumber.default(80),
      as: z.enum(['http', 'tcp']).default('http'),
      http: HttpRequestSchema.prefault({}),
    })
    .meta({
      description:
        "Each source to addresses outside the cluster. Default expect: denied, or allowed where the built-in bundle's allowEgress names the destination and port.",
    }),
  z
    .strictObject({
      ...generatorCommon,
      kind: z.literal('pod-ip'),
      as: z.enum(['http', 'tcp']).default('http'),
      http: HttpRequestSchema.prefault({}),
    })
    .meta({
      description:
        "Each source to every TCP port of every other tenant's workloads by pod IP (read at run time), bypassing DNS and the Service. Default expect: denied.",
    }),
  z
    .strictObject({
      ...generatorCommon,
      from: sourceSelector.default('probes').meta({
        description:
          'Sources: probes, all, or a list; only tenant sources out of the mesh (no sidecar, no ztunnel) whose tenant has a route on the gateway are used: a client sidecar routes by the Host header, which names no Service of the mesh.',
      }),
      kind: z.literal('gateway'),
      gateways: z
        .array(z.string().regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, 'must be "namespace/name"'))
        .min(1)
        .optional()
        .meta({
          description: 'namespace/name of the spec.gateways to try. Default: every one.',
        }),
      controls: z.boolean().default(true).meta({
        description:
          "Also each source's own host to its own backend (expect allowed), so that a deny is told apart from a gateway that routes nothing.",
      }),
    })
    .meta({
      description:
        "Each tenant's source to each ingress gateway of spec.gateways with its own tenant's host, on a path an HTTPRoute in its own namespace sends to another tenant's backend (a cross-namespace backendRef). Default expect: denied.",
    }),
] as const;

export const GeneratorSchema = z.discriminatedUnion('kind', [
  z
    .strictObject({
      ...generatorCommon,
      kind: z.literal('cross-tenant'),
      as: z.enum(['http', 'tcp']).default('http').meta({ description: 'Attempt kind for TCP ports.' }),
      http: HttpRequestSchema.prefault({}),
    })
    .meta({
      description: "Each source to every port of every other tenant's workloads. Default expect: denied.",
    }),
  z
    .strictObject({
      ...generatorCommon,
      kind: z.literal('intra-tenant'),
      as: z.enum(['http', 'tcp']).default('http'),
      http: HttpRequestSchema.prefault({}),
    })
    .meta({
      description: "Each source to every port of its own tenant's workloads. Default expect: allowed.",
    }),
  z
    .strictObject({
      ...generatorCommon,
      kind: z.literal('shared-services'),
      http: HttpRequestSchema.prefault({}).meta(templated),
    })
    .meta({
      description: 'Each tenant source to every TCP port of the shared namespaces. Default expect: allowed.',
    }),
  z
    .strictObject({
      ...generatorCommon,
      kind: z.literal('header-spoof'),
      to: z.enum(['shared', 'same-tenant', 'all']).default('shared'),
      http: HttpRequestSchema.default({
        method: 'GET',
        path: '/',
        headers: {
          'x-tenant-identity': '{trustDomain}/ns/{victimNamespace}/sa/default',
          'x-tenant-id': '{victim}',
        },
      }).meta(templated),
    })
    .meta({
      description:
        'Each meshed tenant source claims, in forged headers, to be each other tenant. Default expect: denied.',
    }),
  z
    .strictObject({
      ...generatorCommon,
      from: sourceSelector
        .default('probes')
        .meta({ description: 'Only sources without a sidecar are used.' }),
      kind: z.literal('plaintext'),
      to: z.enum(['same-tenant', 'shared', 'all']).default('same-tenant'),
      http: HttpRequestSchema.prefault({}),
    })
    .meta({ description: 'Sidecar-free sources to meshed workloads over plaintext. Default expect: reset.' }),
  z
    .strictObject({
      ...generatorCommon,
      kind: z.literal('dns-recon'),
      types: z
        .array(z.enum(['A', 'SRV']))
        .default(['A', 'SRV'])
        .meta({ description: "Record types to ask for other tenants' Services." }),
      controls: z
        .boolean()
        .default(true)
        .meta({ description: 'Also ask for a name that does not exist (expect nxdomain), per source.' }),
    })
    .meta({
      description:
        "Each source resolves other tenants' Services. Default expect: resolved (cluster DNS is not a boundary).",
    }),
  z
    .strictObject({
      ...generatorCommon,
      kind: z.literal('api-token'),
      requests: z
        .array(ApiRequestSchema)
        .default([
          { verb: 'list', resource: 'secrets', group: '', version: 'v1', namespace: '{victimNamespace}' },
          { verb: 'list', resource: 'pods', group: '', version: 'v1', namespace: '{victimNamespace}' },
          { verb: 'list', resource: 'namespaces', group: '', version: 'v1' },
        ])
        .meta({
          description: 'Requests made with the source pod’s token; a namespace may be {victimNamespace}.',
        }),
    })
    .meta({
      description: "Each source uses its pod's token against the API server. Default expect: api-forbidden.",
    }),
  ...EscapeGeneratorSchemas,
]);

export const ScenarioSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(KIND),
    metadata: z.strictObject({
      name: dnsLabel,
      description: z.string().optional(),
    }),
    spec: z.strictObject({
      meshRootNamespace: dnsLabel
        .default('istio-system')
        .meta({ description: 'Istio root namespace (meshConfig.rootNamespace).' }),
      trustDomain: z.string().min(1).default('cluster.local').meta({ description: 'Istio trust domain.' }),
      clusterDomain: z
        .string()
        .min(1)
        .default('cluster.local')
        .meta({ description: 'Kubernetes DNS domain.' }),
      tenantNamespacePrefix: z
        .string()
        .default('tenant-')
        .meta({ description: 'Namespace prefix for `tenants`.' }),
      defaults: z
        .strictObject({
          timeoutMs: z.int().min(100).max(600_000).default(15_000).meta({
            description:
              "Per-attempt deadline in milliseconds. For http and tcp attempts from a pod with a sidecar that set no timeoutMs of their own, a run uses at least (1 + retries) x connectTimeout + 10 s, read from the cluster's mesh config (Istio's defaults: 10 s and 2 retries, so 40 s), so that a dropped connection ends as Envoy's 503 before the probe's own deadline.",
          }),
        })
        .default({ timeoutMs: 15_000 }),
      tenants: z.array(TenantSchema).default([]),
      namespaces: z.array(NamespaceSchema).default([]),
      workloads: z.array(WorkloadSchema).default([]),
      policies: z.array(PolicyRefSchema).default([]),
      attempts: z
        .array(AttemptSchema)
        .default([])
        .meta({
          description: `Attempts written out. Together with the generated ones at most ${ATTEMPT_CAP} per scenario, and at least one.`,
        }),
      generators: z
        .array(GeneratorSchema)
        .default([])
        .meta({
          description: `Attempts implied by the topology. A scenario expands to at most ${ATTEMPT_CAP} attempts, explicit and generated together; past that it is refused (narrow 'from', drop generators, 'exclude', or split the tenants over several scenarios).`,
        }),
      ...gatewayFields,
      ...segmentFields,
    }),
  })
  .meta({
    title: 'bulkhead scenario',
    description: 'Tenants, workloads, isolation policies and the attempts that test them.',
  });

export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type ScenarioDocument = z.output<typeof ScenarioSchema>;
export type RawAttempt = z.output<typeof AttemptSchema>;
export type AddressTo = z.output<typeof AddressToSchema>;
export type RawGenerator = z.output<typeof GeneratorSchema>;
export type RawWorkload = z.output<typeof WorkloadSchema>;
export type RawPort = z.output<typeof PortSchema>;
export type RawWaypoint = z.output<typeof WaypointSchema>;
export type HttpRequest = z.output<typeof HttpRequestSchema>;
export type ApiRequest = z.output<typeof ApiRequestSchema>;
export type DnsQuery = z.output<typeof DnsQuerySchema>;
export { ATTEMPT_KINDS };
