/**
 * An HTTPS stub of the Kubernetes API server (docs/behaviour.md O12): default RBAC, where a tenant's service
 * account may list pods in its own namespace and nothing else, and an anonymous caller may do
 * nothing. Forbidden answers are the API server's Status objects, word for word in shape.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';

import { CERT, KEY } from './servers.js';

/** The token the stub accepts, as `system:serviceaccount:acme:probe`. */
export const GOOD_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.test-token-acme-probe.c2lnbmF0dXJl';
const USER = 'system:serviceaccount:acme:probe';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization?: string;
}

export interface RunningApi {
  readonly url: string;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

function forbidden(user: string, verb: string, resource: string, namespace?: string): object {
  const where = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `${resource} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "" ${where}`,
    reason: 'Forbidden',
    details: { kind: resource },
    code: 403,
  };
}

export async function startApiServer(): Promise<RunningApi> {
  const seen: SeenRequest[] = [];
  const server = https.createServer({ cert: CERT, key: KEY }, (req, res) => {
    const authorization = req.headers.authorization;
    seen.push({ method: req.method ?? '', url: req.url ?? '', ...(authorization ? { authorization } : {}) });
    const url = new URL(req.url ?? '/', 'https://stub');
    const send = (status: number, body: object): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    req.resume();
    // A token the server does not know is rejected before authorization, as 401 (authentication).
    if (authorization !== undefined && authorization !== `Bearer ${GOOD_TOKEN}`) {
      send(401, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
      return;
    }
    const user = authorization === undefined ? 'system:anonymous' : USER;
    const match = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?$/.exec(url.pathname);
    const [, namespace, resource = '', name] = match ?? [];
    const verb = req.method === 'GET' ? (name ? 'get' : 'list') : (req.method ?? '').toLowerCase();
    // A broken server that reflects the caller's credentials: the agent must never pass them on.
    if (resource === 'configmaps' && namespace === 'reflect') {
      send(403, {
        ...forbidden(user, verb, resource, namespace),
        message: `forbidden; you sent ${authorization ?? ''}`,
      });
      return;
    }
    if (
      user === USER &&
      namespace === 'acme' &&
      resource === 'pods' &&
      verb === 'list' &&
      url.searchParams.get('watch') === 'true'
    ) {
      // A watch: the headers, then a stream that stays open.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"kind":"Pod"}}\n');
      return;
    }
    if (user === USER && namespace === 'acme' && resource === 'pods' && verb === 'list') {
      send(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
      return;
    }
    if (user === USER && namespace === 'acme' && resource === 'pods' && verb === 'get') {
      send(404, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: `pods "${name ?? ''}" not found`,
        reason: 'NotFound',
        code: 404,
      });
      return;
    }
    send(403, forbidden(user, verb, resource, namespace));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
