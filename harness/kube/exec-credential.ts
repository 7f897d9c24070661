/**
 * Credential plugins (a kubeconfig user's `exec`: `aws eks get-token`, `gke-gcloud-auth-plugin`,
 * `kubelogin`, ...) run with a deadline. client-node runs them itself with no time limit, and a
 * plugin that waits for a login prompt or a network call keeps bulkhead waiting, and the child
 * keeps the process alive after the command ends. Here each such user is handed to an
 * authenticator of bulkhead's own (client-node's public `addAuthenticator`), which runs the
 * plugin as the client-authentication protocol says: non-interactive, `KUBERNETES_EXEC_INFO` in
 * its environment, an `ExecCredential` on stdout, cached until its expiry. A plugin that does
 * not return in time, or when the run is interrupted, is killed.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import path from 'node:path';

import type { KubeConfig, User } from '@kubernetes/client-node';

import { seconds } from './errors.js';

type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];
type AuthOptions = Parameters<Authenticator['applyAuthentication']>[1];

/** The authProvider name bulkhead gives users whose plugin it runs. */
const PROVIDER_NAME = 'bulkhead-exec';

/** Re-run the plugin this long before the credential it gave expires. */
const EXPIRY_MARGIN_MS = 30_000;

/** A user's `exec` section, as the kubeconfig spells it (client-node keeps it verbatim). */
interface ExecSpec {
  readonly command?: string;
  readonly args?: readonly string[];
  readonly env?: readonly { readonly name: string; readonly value: string }[] | null;
  readonly apiVersion?: string;
  readonly installHint?: string;
}

interface ExecCredential {
  readonly status?: {
    readonly token?: string;
    readonly clientCertificateData?: string;
    readonly clientKeyData?: string;
    readonly expirationTimestamp?: string;
  };
}

/** A credential plugin that is missing, failed, or did not answer in time. */
export class CredentialPluginError extends Error {
  override readonly name = 'CredentialPluginError';
  /** What to check, for the user. */
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.hint = hint;
  }
}

export interface ExecCredentialProps {
  /** How long one run of a plugin may take. */
  readonly timeoutMs: number;
  /** Kills a running plugin (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** The kubeconfig file's folder: a relative command with a slash is relative to it (as kubectl does). */
  readonly baseDir?: string;
}

/**
 * Takes over every user of the kubeconfig that has an exec plugin, so that the plugin runs with
 * a deadline. The KubeConfig is changed in place; nothing else about it changes.
 */
export function boundExecCredentials(kubeConfig: KubeConfig, props: ExecCredentialProps): void {
  const specs = new Map<string, ExecSpec>();
  const users = kubeConfig.getUsers().map((user): User => {
    const exec = user.exec as ExecSpec | null | undefined;
    if (!exec) return user;
    specs.set(user.name, exec);
    // No `exec` and an authProvider none of client-node's own authenticators claims.
    return { ...user, exec: undefined, authProvider: { name: PROVIDER_NAME, config: {} } };
  });
  if (specs.size === 0) return;
  kubeConfig.loadFromOptions({
    clusters: kubeConfig.getClusters(),
    contexts: kubeConfig.getContexts(),
    users,
    currentContext: kubeConfig.getCurrentContext(),
  });
  const cache = new Map<string, { expires: number; credential: Promise<ExecCredential> }>();
  kubeConfig.addAuthenticator({
    isAuthProvider: (user: User) =>
      (user.authProvider as { name?: unknown } | undefined)?.name === PROVIDER_NAME,
    applyAuthentication: async (user: User, opts: AuthOptions) => {
      const spec = specs.get(user.name);
      if (!spec) return;
      let entry = cache.get(user.name);
      if (!entry || entry.expires <= Date.now()) {
        const credential = runPlugin(user.name, spec, props);
        entry = { expires: Number.POSITIVE_INFINITY, credential };
        cache.set(user.name, entry);
        const pending = entry;
        credential.then(
          (c) => {
            const at = c.status?.expirationTimestamp ? Date.parse(c.status.expirationTimestamp) : NaN;
            pending.expires = Number.isFinite(at) ? at - EXPIRY_MARGIN_MS : Number.POSITIVE_INFINITY;
          },
          () => {
            // A failure is not cached: the next request asks the plugin again.
            if (cache.get(user.name) === pending) cache.delete(user.name);
          },
        );
      }
      const status = (await entry.credential).status ?? {};
      const options = opts as { headers?: Record<string, string>; cert?: string; key?: string };
      if (status.clientCertificateData) options.cert = status.clientCertificateData;
      if (status.clientKeyData) options.key = status.clientKeyData;
      if (status.token) options.headers = { ...options.headers, Authorization: `Bearer ${status.token}` };
    },
  });
}

function runPlugin(userName: string, spec: ExecSpec, props: ExecCredentialProps): Promise<ExecCredential> {
  const given = spec.command ?? '';
  const name = `the credential plugin '${given}' of user '${userName}'`;
  const installHint = spec.installHint?.trim().split('\n')[0];
  if (!given) {
    return Promise.reject(
      new CredentialPluginError(`${name} has no command`, 'set users[].user.exec.command in the kubeconfig'),
    );
  }
  const command =
    props.baseDir && given.includes('/') && !path.isAbsolute(given)
      ? path.resolve(props.baseDir, given)
      : given;
  return new Promise<ExecCredential>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const e of spec.env ?? []) env[e.name] = e.value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify({
      apiVersion: spec.apiVersion ?? 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
    const child = spawn(command, [...(spec.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    // Never the reason the process stays alive: a hung plugin is killed, not waited for.
    child.unref();
    // Its pipes are sockets, which would hold the event loop open too.
    (child.stdout as unknown as Socket).unref();
    (child.stderr as unknown as Socket).unref();
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      props.signal?.removeEventListener('abort', onAbort);
      process.off('exit', kill);
      fn();
    };
    const fail = (message: string, hint: string) => {
      settle(() => {
        kill();
        reject(new CredentialPluginError(message, hint));
      });
    };
    const timer = setTimeout(() => {
      fail(
        `${name} did not return a credential within ${seconds(props.timeoutMs)}`,
        'run it yourself to see what it waits for (a login prompt, a browser, a network call); BULKHEAD_CONNECT_TIMEOUT=<seconds> waits longer',
      );
    }, props.timeoutMs);
    // This timer (ref'd, bounded) is what keeps the process waiting for the plugin, not the plugin.
    const onAbort = () => {
      fail(`${name} was stopped: interrupted`, 'nothing to fix; run again');
    };
    props.signal?.addEventListener('abort', onAbort, { once: true });
    process.once('exit', kill);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        fail(
          `${name} was not found (ENOENT)`,
          installHint ??
            `install ${path.basename(given)} or put its folder on PATH, or fix users[].user.exec.command in the kubeconfig`,
        );
      } else if (error.code === 'EACCES') {
        fail(`${name} cannot be run (EACCES)`, `make ${command} executable`);
      } else {
        fail(`${name} could not start: ${error.message}`, 'check users[].user.exec in the kubeconfig');
      }
    });
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const said = stderr.trim().split('\n').slice(-1)[0]?.slice(0, 300);
        fail(
          `${name} failed (${code === null ? `killed by ${signal ?? 'a signal'}` : `exit code ${code}`})${said ? `: ${said}` : ''}`,
          installHint ?? 'run it yourself to see why; it may need a fresh login',
        );
        return;
      }
      let credential: ExecCredential;
      try {
        credential = JSON.parse(stdout) as ExecCredential;
      } catch {
        fail(
          `${name} did not print an ExecCredential (its output is not JSON)`,
          'run it yourself to see what it prints',
        );
        return;
      }
      const status = credential.status;
      if (!status?.token && !(status?.clientCertificateData && status.clientKeyData)) {
        fail(
          `${name} printed an ExecCredential without a token or a client certificate and key`,
          'run it yourself to see what it prints',
        );
        return;
      }
      settle(() => {
        resolve(credential);
      });
    });
  });
}
