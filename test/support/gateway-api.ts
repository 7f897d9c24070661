/**
 * Gateway API CRDs for tests, written here (not copied from the release): the two kinds a waypoint
 * needs, with the bundle annotations a release stamps on them and a Gateway schema that keeps the
 * fields bulkhead writes and a controller's status (kubernetes-sigs/gateway-api v1.5.1
 * `apis/v1/gateway_types.go`: `spec.gatewayClassName` and `spec.listeners` required, each listener
 * with `name`, `port` and `protocol`; `status.conditions` and `status.addresses`). Their SHA-256
 * are computed here, so a test pins them as bulkhead pins the real files.
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

function crd(
  version: string,
  kind: string,
  plural: string,
  scope: 'Cluster' | 'Namespaced',
  schema: unknown,
  channel = 'standard',
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
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

/** The Gateway and GatewayClass CRDs of a bundle, as objects. */
export function gatewayApiCrds(version = 'v1.5.1', channel = 'standard'): Record<string, unknown>[] {
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
