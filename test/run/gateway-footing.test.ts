/**
 * What the ingress-gateway footing asks of the status Istio's controller writes
 * (harness/run/gateway-footing.ts): Programmed for the current generation, routes Accepted for
 * theirs, a tenant's own route resolved, a cross route's ResolvedRefs read as it is.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';

import type { RenderedRoute } from '../../harness/run/gateway-fixtures.js';
import { programmedGaps, routeFooting, routeGaps } from '../../harness/run/gateway-footing.js';

const GATEWAY = { namespace: 'ingress', name: 'public' };

const gateway = (generation: number, programmed: Record<string, unknown>): KubernetesObject =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'public', namespace: 'ingress', generation },
    status: { conditions: [{ type: 'Programmed', ...programmed }] },
  }) as KubernetesObject;

const ROUTE = (role: 'own' | 'cross'): RenderedRoute => ({
  role,
  gateway: GATEWAY,
  namespace: 'tenant-acme',
  name: 'r',
  hostname: 'acme.example.com',
  backend: { namespace: role === 'own' ? 'tenant-acme' : 'tenant-globex', name: 'web' },
  port: 9000,
});

const route = (generation: number, conditions: Record<string, unknown>[]): KubernetesObject =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'r', namespace: 'tenant-acme', generation },
    status: {
      parents: [
        {
          parentRef: { name: 'public', namespace: 'ingress' },
          controllerName: 'istio.io/gateway-controller',
          conditions,
        },
      ],
    },
  }) as KubernetesObject;

const ACCEPTED = { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 2 };
const REFUSED = { type: 'ResolvedRefs', status: 'False', reason: 'RefNotPermitted', observedGeneration: 2 };

describe('run: the ingress-gateway footing', () => {
  it('takes Programmed=True only for the current generation', () => {
    expect(programmedGaps(GATEWAY, gateway(2, { status: 'True', observedGeneration: 2 }))).to.deep.equal([]);
    expect(programmedGaps(GATEWAY, gateway(3, { status: 'True', observedGeneration: 2 }))).to.deep.equal([
      'Gateway ingress/public is Programmed only for generation 2, not its current 3',
    ]);
    expect(
      programmedGaps(
        GATEWAY,
        gateway(1, {
          status: 'False',
          reason: 'AddressNotAssigned',
          message: 'address pending',
          observedGeneration: 1,
        }),
      ),
    ).to.deep.equal(['Gateway ingress/public is not Programmed (AddressNotAssigned: address pending)']);
    expect(programmedGaps(GATEWAY, undefined)).to.deep.equal(['Gateway ingress/public is not there']);
  });

  it("requires a tenant's own route resolved, and reads a cross route's refusal without requiring anything of it", () => {
    expect(routeGaps(ROUTE('own'), route(2, [ACCEPTED, REFUSED]))).to.deep.equal([
      "HTTPRoute tenant-acme/r, the tenant's own route, does not resolve its backend tenant-acme/web:9000 (ResolvedRefs False/RefNotPermitted)",
    ]);
    expect(routeGaps(ROUTE('cross'), route(2, [ACCEPTED, REFUSED]))).to.deep.equal([]);
    expect(routeFooting(ROUTE('cross'), route(2, [ACCEPTED, REFUSED]))).to.deep.equal({
      route: 'tenant-acme/r',
      role: 'cross',
      accepted: 'True/Accepted',
      resolvedRefs: 'False/RefNotPermitted',
    });
  });

  it('waits while a route is not Accepted for its generation, has no status, or no ResolvedRefs yet', () => {
    expect(routeGaps(ROUTE('cross'), route(3, [ACCEPTED, REFUSED]))[0]).to.contain(
      'HTTPRoute tenant-acme/r is not Accepted by Gateway ingress/public (True/Accepted)',
    );
    expect(
      routeGaps(
        ROUTE('cross'),
        route(2, [{ ...ACCEPTED, status: 'False', reason: 'NotAllowedByListeners' }]),
      ),
    )
      .to.have.length(1)
      .and.to.match(/NotAllowedByListeners/);
    expect(routeGaps(ROUTE('cross'), route(2, [ACCEPTED]))).to.deep.equal([
      'HTTPRoute tenant-acme/r has no ResolvedRefs condition yet',
    ]);
    const bare = { ...route(1, []), status: {} } as KubernetesObject;
    expect(routeGaps(ROUTE('own'), bare)).to.deep.equal([
      'HTTPRoute tenant-acme/r has no status for Gateway ingress/public yet',
    ]);
  });
});
