/**
 * Gateway API CRDs for tests, written here (not copied from the release), with the bundle
 * annotations a release stamps on them. Each schema keeps the fields bulkhead and the built-in
 * policies write, with the constraints the pinned files put on them (kubernetes-sigs/gateway-api
 * v1.5.1, e7677b70, `config/crd/standard/`; the same at v1.4.1, 477d172e, for these fields):
 * - Gateway (`gateway_types.go`): `spec.gatewayClassName` and `spec.listeners` required, each
 *   listener with `name`, `port` and `protocol`; `status.conditions` and `status.addresses`.
 * - HTTPRoute v1 (`…_httproutes.yaml:20-3469`; v1beta1 served too): `parentRefs` at most 32, each
 *   with `name` required and `group`/`kind`/`namespace`/`sectionName` patterns (:315); `hostnames`
 *   at most 16, each a lower-case DNS name, optionally `*.`-prefixed (:131); `rules` at most 16,
 *   `matches` at most 64 per rule, a path `type` of Exact, PathPrefix or RegularExpression and a
 *   `value` of at most 1024; `backendRefs` at most 16, `name` required, `port` 1-65535, `weight`
 *   0-1000000 (:1511-1620); `status.parents` with `parentRef`, `controllerName`, `conditions`.
 * - ReferenceGrant v1beta1 (`…_referencegrants.yaml:189-346`; v1.5.1 serves v1 too, :26-183, v1.4.1
 *   only v1beta1): `from` and `to` required, 1-16 items each; `from[]` with `group`, `kind` and
 *   `namespace` required, `to[]` with `group` and `kind` required and an optional `name`.
 * Not here: the CEL rules (`x-kubernetes-validations`, e.g. "Must have port for Service
 * reference", :995), which the fake does not evaluate for any CRD. Their SHA-256 are computed
 * here, so a test pins them as bulkhead pins the real files.
 */
import { createHash } from 'node:crypto';

import { stringify } from 'yaml';

import type { GatewayApiBundle } from '../../harness/cluster/gateway-api.js';

const conditions = {
  type: 'array',
  items: {
    type: 'object',
    required: ['type', 'status'],
    properties: {
      type: { type: 'string' },
      status: { type: 'string' },
      reason: { type: 'string' },
      message: { type: 'string' },
      observedGeneration: { type: 'integer' },
      lastTransitionTime: { type: 'string' },
    },
  },
};

export const GATEWAY_SCHEMA = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['gatewayClassName', 'listeners'],
      properties: {
        gatewayClassName: { type: 'string' },
        listeners: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'port', 'protocol'],
            properties: {
              name: { type: 'string' },
              port: { type: 'integer' },
              protocol: { type: 'string' },
              hostname: { type: 'string' },
              allowedRoutes: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
        infrastructure: {
          type: 'object',
          properties: {
            labels: { type: 'object', additionalProperties: { type: 'string' } },
            annotations: { type: 'object', additionalProperties: { type: 'string' } },
          },
        },
      },
    },
    status: {
      type: 'object',
      properties: {
        addresses: {
          type: 'array',
          items: { type: 'object', properties: { type: { type: 'string' }, value: { type: 'string' } } },
        },
        conditions,
        listeners: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    },
  },
};

const dnsSubdomain = '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const group = { type: 'string', maxLength: 253, pattern: dnsSubdomain };
const kindName = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$',
};
const namespaceName = {
  type: 'string',
  minLength: 1,
  maxLength: 63,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
};
const objectName = { type: 'string', minLength: 1, maxLength: 253 };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const loose = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

const parentRef = {
  type: 'object',
  required: ['name'],
  properties: {
    group,
    kind: kindName,
    name: objectName,
    namespace: namespaceName,
    port,
    sectionName: {
      type: 'string',
      minLength: 1,
      maxLength: 253,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
    },
  },
};

export const HTTPROUTE_SCHEMA = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      properties: {
        parentRefs: { type: 'array', maxItems: 32, items: parentRef },
        hostnames: {
          type: 'array',
          maxItems: 16,
          items: {
            type: 'string',
            minLength: 1,
            maxLength: 253,
            pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
          },
        },
        rules: {
          type: 'array',
          maxItems: 16,
          items: {
            type: 'object',
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 253 },
              matches: {
                type: 'array',
                maxItems: 64,
                items: {
                  type: 'object',
                  properties: {
                    path: {
                      type: 'object',
                      properties: {
                        type: { type: 'string', enum: ['Exact', 'PathPrefix', 'RegularExpression'] },
                        value: { type: 'string', maxLength: 1024 },
                      },
                    },
                    headers: { type: 'array', maxItems: 16, items: loose },
                    queryParams: { type: 'array', maxItems: 16, items: loose },
                    method: {
                      type: 'string',
                      enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'],
                    },
                  },
                },
              },
              filters: { type: 'array', maxItems: 16, items: loose },
              backendRefs: {
                type: 'array',
                maxItems: 16,
                items: {
                  type: 'object',
                  required: ['name'],
                  properties: {
                    group,
                    kind: kindName,
                    name: objectName,
                    namespace: namespaceName,
                    port,
                    weight: { type: 'integer', minimum: 0, maximum: 1000000 },
                    filters: { type: 'array', maxItems: 16, items: loose },
                  },
                },
              },
              timeouts: loose,
            },
          },
        },
      },
    },
    status: {
      type: 'object',
      properties: {
        parents: {
          type: 'array',
          maxItems: 32,
          items: {
            type: 'object',
            required: ['parentRef', 'controllerName'],
            properties: { parentRef, controllerName: { type: 'string' }, conditions },
          },
        },
      },
    },
  },
};

export const REFERENCE_GRANT_SCHEMA = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['from', 'to'],
      properties: {
        from: {
          type: 'array',
          minItems: 1,
          maxItems: 16,
          items: {
            type: 'object',
            required: ['group', 'kind', 'namespace'],
            properties: { group, kind: kindName, namespace: namespaceName },
          },
        },
        to: {
          type: 'array',
          minItems: 1,
          maxItems: 16,
          items: {
            type: 'object',
            required: ['group', 'kind'],
            properties: { group, kind: kindName, name: objectName },
          },
        },
      },
    },
  },
};

interface CrdVersionSpec {
  readonly name: string;
  readonly storage: boolean;
}

function crd(
  version: string,
  kind: string,
  plural: string,
  scope: 'Cluster' | 'Namespaced',
  schema: unknown,
  channel = 'standard',
  versions: readonly CrdVersionSpec[] = [{ name: 'v1', storage: true }],
): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${plural}.gateway.networking.k8s.io`,
      annotations: {
        'gateway.networking.k8s.io/bundle-version': version,
        'gateway.networking.k8s.io/channel': channel,
      },
    },
    spec: {
      group: 'gateway.networking.k8s.io',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      scope,
      versions: versions.map((v) => ({
        name: v.name,
        served: true,
        storage: v.storage,
        subresources: { status: {} },
        schema: { openAPIV3Schema: schema },
      })),
    },
  };
}

/**
 * The GatewayClass, Gateway, HTTPRoute and ReferenceGrant CRDs of a bundle, as objects, serving
 * the versions the release serves (ReferenceGrant v1 from v1.5 on).
 */
export function gatewayApiCrds(version = 'v1.5.1', channel = 'standard'): Record<string, unknown>[] {
  const grantVersions: CrdVersionSpec[] =
    version === 'v1.4.1'
      ? [{ name: 'v1beta1', storage: true }]
      : [
          { name: 'v1', storage: false },
          { name: 'v1beta1', storage: true },
        ];
  return [
    crd(
      version,
      'GatewayClass',
      'gatewayclasses',
      'Cluster',
      { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      channel,
    ),
    crd(version, 'Gateway', 'gateways', 'Namespaced', GATEWAY_SCHEMA, channel),
    crd(version, 'HTTPRoute', 'httproutes', 'Namespaced', HTTPROUTE_SCHEMA, channel, [
      { name: 'v1', storage: true },
      { name: 'v1beta1', storage: false },
    ]),
    crd(
      version,
      'ReferenceGrant',
      'referencegrants',
      'Namespaced',
      REFERENCE_GRANT_SCHEMA,
      channel,
      grantVersions,
    ),
  ];
}

/** The files of a test bundle (one CRD each) and the bundle that pins them. */
export function gatewayApiFiles(version = 'v1.5.1'): {
  readonly files: ReadonlyMap<string, string>;
  readonly bundle: GatewayApiBundle;
} {
  const files = new Map<string, string>();
  for (const c of gatewayApiCrds(version)) {
    const plural = (c.spec as { names: { plural: string } }).names.plural;
    files.set(`gateway.networking.k8s.io_${plural}.yaml`, stringify(c));
  }
  return {
    files,
    bundle: {
      version,
      files: [...files].map(([name, text]) => ({
        name,
        sha256: createHash('sha256').update(text).digest('hex'),
      })),
    },
  };
}
