/**
 * What a run read of its ingress gateways before any attempt (harness/run/gateway-footing.ts):
 * one shape for the `footing` record of results.jsonl and results.json's `method.footing.gateways`.
 * Conditions are written `<status>/<reason>` as the controller set them (`absent` when it set none).
 */
import { z } from 'zod';

export const GatewayFootingPart = z
  .array(
    z.object({
      gateway: z.string().describe('namespace/name of the Gateway'),
      programmed: z.string().describe('its Programmed condition, for the generation below'),
      generation: z.number().int(),
      pod: z.string().describe('namespace/name of the Ready pod of <name>-istio'),
      routes: z.array(
        z.object({
          route: z.string().describe('namespace/name of the HTTPRoute'),
          role: z
            .enum(['own', 'cross'])
            .describe("a tenant's own route, or the cross-tenant route under test"),
          accepted: z.string(),
          resolvedRefs: z
            .string()
            .describe('False/RefNotPermitted: a cross-namespace backendRef no ReferenceGrant permits'),
        }),
      ),
      routesReadAfter: z
        .enum(['routes-attached', 'barrier'])
        .optional()
        .describe(
          "when the routes' status was last read: once attached (before the policies), or after the barrier",
        ),
    }),
  )
  .describe(
    "Ingress gateways: Programmed for their generation, a pod Ready, each route's parent status as read",
  );
