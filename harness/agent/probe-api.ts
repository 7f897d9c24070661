/**
 * One Kubernetes API attempt with the pod's mounted service-account token (docs/behaviour.md O12). Mutating
 * verbs are sent with `dryRun=All`: the API server authorizes a dry run exactly like a real
 * request, and the cluster is never changed by a probe. The token is sent, never reported.
 */
import type { ApiItem, ApiSpec } from './batch.js';
import { fsPromises } from './builtins.js';
import { classifyApiAnswer, classifyFailure } from './classify.js';
import { Clock, errorFacts } from './clock.js';
import { exchange } from './exchange.js';
import { bodyPrefix, errorEvidence, type ProbeResult } from './result.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const METHODS: Readonly<Record<ApiSpec['verb'], string>> = {
  get: 'GET',
  list: 'GET',
  watch: 'GET',
  create: 'POST',
  update: 'PUT',
  patch: 'PATCH',
  delete: 'DELETE',
};

/** The request path of an API request: `/api/v1/namespaces/acme/secrets/x`, `/apis/apps/v1/deployments`. */
export function apiPath(request: ApiSpec): string {
  const [resource = '', subresource] = request.resource.split('/');
  const root = request.group === '' ? `/api/${request.version}` : `/apis/${request.group}/${request.version}`;
  const scope = request.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(request.namespace)}`;
  const named = ['get', 'update', 'patch', 'delete'].includes(request.verb) || subresource !== undefined;
  const name = named && request.name !== undefined ? `/${encodeURIComponent(request.name)}` : '';
  const query =
    request.verb === 'watch'
      ? '?watch=true'
      : ['create', 'update', 'patch', 'delete'].includes(request.verb)
        ? '?dryRun=All'
        : '';
  return `${root}${scope}/${resource}${name}${subresource ? `/${subresource}` : ''}${query}`;
}

/** `https://host:port` of the API server as the pod sees it, or undefined outside a cluster. */
export function inClusterServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await fsPromises().readFile(file, 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * @param secrets receives the token read, so that the writer can scrub it from every line even
 *   if some server echoed it back.
 */
export async function probeApi(item: ApiItem, secrets: Set<string>): Promise<ProbeResult> {
  const clock = new Clock();
  const tokenFile = item.tokenFile ?? `${SERVICE_ACCOUNT_DIR}/token`;
  const caFile = item.caFile ?? `${SERVICE_ACCOUNT_DIR}/ca.crt`;
  const server = item.apiServer ?? inClusterServer();
  const method = METHODS[item.request.verb];
  const fault = (reason: string, facts?: { code?: string; message: string }): ProbeResult => ({
    id: item.id,
    kind: 'api',
    outcome: 'error',
    reason,
    evidence: { elapsedMs: clock.elapsed(), ...(facts ? errorEvidence(facts) : {}) },
  });
  if (server === undefined)
    return fault('no API server: KUBERNETES_SERVICE_HOST is not set and the attempt gives no apiServer');
  let url: URL;
  try {
    url = new URL(apiPath(item.request), server);
  } catch (error) {
    return fault(`apiServer "${server}" is not a URL`, errorFacts(error));
  }
  let token: string | undefined;
  let ca: string | undefined;
  try {
    token = (await readOptional(tokenFile))?.trim() || undefined;
    ca = await readOptional(caFile);
  } catch (error) {
    return fault('the service-account files could not be read', errorFacts(error));
  }
  if (token) secrets.add(token);
  // Without a CA the server cannot be verified; that is acceptable only when there is no
  // token to give away. With a token, the system roots must vouch for the server.
  const tls = ca
    ? `verified with ${caFile}`
    : token
      ? 'verified with the system roots'
      : 'not verified (no CA mounted, no token sent)';
  const body = method === 'GET' || method === 'DELETE' ? undefined : Buffer.from('{}');
  const answer = await exchange({
    options: {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || 443,
      method,
      path: `${url.pathname}${url.search}`,
      headers: {
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body
          ? {
              'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
              'content-length': String(body.length),
            }
          : {}),
      },
      ...(ca ? { ca } : {}),
      rejectUnauthorized: Boolean(ca ?? token),
    },
    ...(body ? { body } : {}),
    timeoutMs: item.timeoutMs,
    clock,
    headersOnly: item.request.verb === 'watch',
  });
  const api = { method, token: token ? ('mounted' as const) : ('no-token' as const), tokenFile, tls };
  const common = {
    target: url.href,
    phase: answer.phase,
    elapsedMs: clock.elapsed(),
    ...(answer.connectMs === undefined ? {} : { connectMs: answer.connectMs }),
  };
  if (answer.type === 'failure')
    return {
      id: item.id,
      kind: 'api',
      ...classifyFailure({ ...answer, timeoutMs: item.timeoutMs }),
      evidence: { ...common, api, ...errorEvidence(answer) },
    };
  const status = statusObject(answer.body);
  return {
    id: item.id,
    kind: 'api',
    ...classifyApiAnswer(answer.status, status?.kind, token !== undefined),
    evidence: {
      ...common,
      status: answer.status,
      body: bodyPrefix(answer.body),
      bodyBytes: answer.body.length,
      api: { ...api, ...(status?.reason ? { statusReason: status.reason } : {}) },
    },
  };
}

/** The `kind` and `reason` of a JSON answer (`Status`, `Forbidden`), when it is JSON. */
function statusObject(body: Buffer): { kind?: string; reason?: string } | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { kind, reason } = parsed as { kind?: unknown; reason?: unknown };
    return {
      ...(typeof kind === 'string' ? { kind } : {}),
      ...(typeof reason === 'string' ? { reason } : {}),
    };
  } catch {
    return undefined;
  }
}
