/**
 * When bulkhead cannot reach, trust or use the cluster: every fault ends with exit 2 and one
 * `error:` sentence that names the server and the cause (plus what to check), in a bounded time,
 * with no stack trace and no credential in the output. Each broken environment is a loopback
 * server started here (or the fake API server configured to refuse).
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { stringify } from 'yaml';

import { UserError } from '../../harness/errors.js';
import { environmentFault, KubeApiError, transportOf } from '../../harness/kube/errors.js';
import { connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS } from '../../harness/kube/request.js';
import { brokenServer, plainHttpServer, type BrokenServer } from '../support/broken-servers.js';
import { runCli, runExisting, type CliResult } from '../support/cli.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { closedPort } from '../support/fake-cluster.js';
import { putCalicoInstallation, putIstiod, putReadyCluster } from '../support/existing-cluster.js';
import { HEAD, repoRoot } from '../support/scenarios.js';

const TLS = new URL('../support/fake-apiserver/tls/', import.meta.url);

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads: [{ name: client }, { name: api, ports: [8080] }]
  attempts:
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

const TOKEN = 'bulkhead-test-token-0123456789abcdef';

interface KubeconfigProps {
  readonly server: string;
  /** Include the test CA (default true). */
  readonly ca?: boolean;
  readonly token?: string;
  readonly exec?: Record<string, unknown>;
}

/** A kubeconfig with a token and a client certificate and key (neither may ever be printed). */
async function kubeconfigText(props: KubeconfigProps): Promise<string> {
  const ca = await readFile(new URL('ca.crt', TLS));
  const cert = await readFile(new URL('server.crt', TLS));
  const key = await readFile(new URL('server.key', TLS));
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'fake',
        cluster: {
          server: props.server,
          ...(props.ca === false ? {} : { 'certificate-authority-data': ca.toString('base64') }),
        },
      },
    ],
    users: [
      {
        name: 'tester',
        user: props.exec
          ? { exec: props.exec }
          : {
              token: props.token ?? TOKEN,
              'client-certificate-data': cert.toString('base64'),
              'client-key-data': key.toString('base64'),
            },
      },
    ],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
    'current-context': 'fake',
  });
}

/** What must never appear in anything bulkhead prints. */
async function secrets(): Promise<string[]> {
  const key = await readFile(new URL('server.key', TLS), 'utf8');
  const keyBody = key.split('\n').filter((l) => l && !l.startsWith('-----'));
  return [TOKEN, Buffer.from(key).toString('base64').slice(0, 40), ...keyBody];
}

/**
 * The shape every fault has: exit 2, exactly one `error:` line, an indented hint, no stack trace,
 * no "internal error", no credential.
 */
async function expectFault(r: CliResult & { ms?: number }, pattern: RegExp): Promise<void> {
  const output = r.stdout + r.stderr;
  expect(r.code, output).to.equal(2);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  expect(errors, r.stderr).to.have.length(1);
  expect(errors[0], r.stderr).to.match(pattern);
  expect(output).to.not.contain('internal error');
  expect(output).to.not.match(/\n\s+at .+:\d+:\d+/);
  for (const secret of await secrets()) expect(output).to.not.contain(secret);
}

/** Runs the real bin in a child process; `onStart` gets the child (to signal it). */
function runChild(
  args: readonly string[],
  options: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    onStart?: (kill: (signal: NodeJS.Signals) => void) => void;
  },
): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'bulkhead.js'), ...args], {
      cwd: options.cwd,
      env: { ...options.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
    options.onStart?.((signal) => child.kill(signal));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('cli: environment faults are one sentence, exit 2, in bounded time', function () {
  this.timeout(30_000);
  let dir: string;
  let server: FakeApiServer | undefined;
  let broken: BrokenServer | undefined;
  const touched = ['HOME', 'KUBECONFIG', 'BULKHEAD_CONNECT_TIMEOUT'] as const;
  const saved = Object.fromEntries(touched.map((k) => [k, process.env[k]]));

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-faults-'));
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
    // The first call's deadline, short for the tests (the default is 10 s).
    process.env.BULKHEAD_CONNECT_TIMEOUT = '1.5';
  });
  afterEach(async () => {
    for (const key of touched) {
      const value = saved[key];
      if (value === undefined) Reflect.deleteProperty(process.env, key);
      else process.env[key] = value;
    }
    await server?.stop();
    server = undefined;
    await broken?.close();
    broken = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function writeKubeconfig(props: KubeconfigProps): Promise<void> {
    await writeFile(path.join(dir, 'kubeconfig'), await kubeconfigText(props));
  }

  /** `bulkhead run -f scenario.yaml --provider existing --kubeconfig kubeconfig`, timed. */
  async function run(...extra: string[]): Promise<CliResult & { ms: number }> {
    const started = Date.now();
    const r = await runExisting(dir, ...extra);
    return { ...r, ms: Date.now() - started };
  }

  async function up(...extra: string[]): Promise<CliResult & { ms: number }> {
    const started = Date.now();
    const r = await runCli(['up', '--provider', 'existing', '--kubeconfig', 'kubeconfig', ...extra], dir);
    return { ...r, ms: Date.now() - started };
  }

  async function readyServer(options: ConstructorParameters<typeof FakeApiServer>[0] = {}) {
    server = await new FakeApiServer({ token: TOKEN, ...options }).start();
    putReadyCluster(server);
    return server;
  }

  it('a closed port: connection refused, at once (run and up)', async () => {
    const url = `https://127.0.0.1:${await closedPort()}`;
    await writeKubeconfig({ server: url });
    for (const r of [await run(), await up()]) {
      await expectFault(
        r,
        new RegExp(
          `^error: cannot connect to the API server ${url}: the connection was refused \\(ECONNREFUSED\\)`,
        ),
      );
      expect(r.stderr).to.contain(
        "check that the cluster is running and that the server address of context 'fake'",
      );
      expect(r.ms).to.be.below(5000);
    }
  });

  it('a port that speaks plain HTTP: not TLS, check the port', async () => {
    broken = await plainHttpServer();
    await writeKubeconfig({ server: broken.url });
    const r = await run();
    await expectFault(
      r,
      new RegExp(
        `^error: the API server ${broken.url} does not speak TLS: something else answered on that port \\(ERR_SSL_WRONG_VERSION_NUMBER\\)$`,
      ),
    );
    expect(r.stderr).to.contain('check the port in the server address');
    expect(r.ms).to.be.below(5000);
  });

  it('a port that accepts TCP and never answers: no answer within the connect deadline, said in seconds', async () => {
    broken = await brokenServer('silent');
    await writeKubeconfig({ server: broken.url });
    const r = await run();
    await expectFault(
      r,
      new RegExp(
        `^error: no answer from the API server ${broken.url} within 1\\.5 s: the TCP connection opened, but the TLS handshake did not finish$`,
      ),
    );
    expect(r.stderr).to.contain('BULKHEAD_CONNECT_TIMEOUT=<seconds> waits longer');
    expect(broken.connections()).to.be.greaterThan(0);
    // 1.5 s deadline, a loopback TCP check, and the command around it.
    expect(r.ms).to.be.within(1400, 6000);
  });

  it('a TLS server that never completes the handshake: the same bounded timeout (up)', async () => {
    broken = await brokenServer('tls-stall');
    await writeKubeconfig({ server: broken.url });
    const r = await up();
    await expectFault(r, new RegExp(`^error: no answer from the API server ${broken.url} within 1\\.5 s: `));
    expect(r.ms).to.be.within(1400, 6000);
  });

  it('a server that hangs up at once: closed before answering', async () => {
    broken = await brokenServer('hang-up');
    await writeKubeconfig({ server: broken.url });
    const r = await run();
    await expectFault(
      r,
      new RegExp(
        `^error: the API server ${broken.url} closed the connection before answering \\(ECONNRESET\\)$`,
      ),
    );
    expect(r.ms).to.be.below(5000);
  });

  it('a kubeconfig without the CA: the certificate cannot be verified; set certificate-authority (run and up)', async () => {
    await readyServer();
    await writeKubeconfig({ server: server!.url, ca: false });
    for (const r of [await run(), await up()]) {
      await expectFault(
        r,
        new RegExp(
          `^error: cannot verify the TLS certificate of the API server ${server!.url}: unable to verify the first certificate \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)$`,
        ),
      );
      expect(r.stderr).to.contain('set certificate-authority (or certificate-authority-data)');
    }
    expect(server!.requests).to.deep.equal([]);
  });

  it('a wrong token: 401, the credentials of the context were rejected', async () => {
    await readyServer();
    await writeKubeconfig({ server: server!.url, token: 'not-the-token' });
    const r = await run();
    await expectFault(
      r,
      new RegExp(
        `^error: the API server ${server!.url} rejected the credentials of context 'fake' \\(401 Unauthorized\\)$`,
      ),
    );
    expect(r.stderr).to.contain('wrong or has expired');
    expect(r.stdout + r.stderr).to.not.contain('not-the-token');
    expect(server!.requests.map((q) => q.path)).to.deep.equal(['/version']);
  });

  it("a 403 on bulkhead's own request: which request, which context, what the server said (run and up)", async () => {
    await readyServer({
      forbid: (q) => q.method === 'GET' && q.path.startsWith('/api/v1/namespaces/tenant-'),
    });
    await writeKubeconfig({ server: server!.url });
    const r = await run();
    await expectFault(
      r,
      new RegExp(
        `^error: the API server ${server!.url} forbids get Namespace tenant-acme to the credentials of context 'fake' \\(403 Forbidden: GET /api/v1/namespaces/tenant-acme is forbidden by the test\\)$`,
      ),
    );
    expect(r.stderr).to.contain('use a context whose role allows it');
    await server!.stop();
    server = await new FakeApiServer({
      token: TOKEN,
      forbid: (q) => q.path.startsWith('/apis/operator.tigera.io/'),
    }).start();
    putReadyCluster(server);
    await writeKubeconfig({ server: server.url });
    const checked = await up();
    await expectFault(
      checked,
      /^error: the API server \S+ forbids discover operator\.tigera\.io\/v1 \(for Installation default\) to the credentials of context 'fake' \(403 Forbidden: /,
    );
  });

  it('an exec credential plugin that is missing: ENOENT, with the install hint the kubeconfig gives', async () => {
    await readyServer();
    await writeKubeconfig({
      server: server!.url,
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: 'bulkhead-test-no-such-plugin',
        installHint: 'install bulkhead-test-no-such-plugin from your cloud provider',
        interactiveMode: 'Never',
      },
    });
    const r = await run();
    await expectFault(
      r,
      /^error: cannot use the credentials of context 'fake': the credential plugin 'bulkhead-test-no-such-plugin' of user 'tester' was not found \(ENOENT\)$/,
    );
    expect(r.stderr).to.contain('\n  install bulkhead-test-no-such-plugin from your cloud provider\n');
    expect(r.ms).to.be.below(5000);
    expect(server!.requests).to.deep.equal([]);
  });

  it('an exec credential plugin that works: its token is used (and cached: one run of the plugin)', async () => {
    await readyServer();
    const count = path.join(dir, 'runs');
    const plugin = path.join(dir, 'plugin.sh');
    await writeFile(
      plugin,
      `#!/bin/sh\necho run >> '${count}'\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${TOKEN}"}}'\n`,
    );
    await chmod(plugin, 0o755);
    await writeKubeconfig({
      server: server!.url,
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' },
    });
    const r = await up();
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("context 'fake' is ready for bulkhead run --provider existing");
    expect((await readFile(count, 'utf8')).trim().split('\n')).to.have.length(1);
    expect(r.stdout + r.stderr).to.not.contain(TOKEN);
  });

  it('an exec credential plugin that hangs: bounded by the same deadline, killed, and the process exits', async () => {
    await readyServer();
    const pidFile = path.join(dir, 'plugin.pid');
    const plugin = path.join(dir, 'hang.sh');
    await writeFile(plugin, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 600\n`);
    await chmod(plugin, 0o755);
    await writeKubeconfig({
      server: server!.url,
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' },
    });
    const r = await runChild(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--kubeconfig', 'kubeconfig'],
      { cwd: dir, env: { ...process.env, BULKHEAD_CONNECT_TIMEOUT: '1.5' } },
    );
    await expectFault(r, /^error: .*credential.* within 1\.5 s/);
    // The whole process ends long before the plugin would (it sleeps 600 s): the plugin does not
    // hold it. The bound leaves room for tsx start-up on a loaded runner; a held process is 600 s.
    expect(r.ms).to.be.below(25_000);
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    const until = Date.now() + 2000;
    while (alive(pid) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(alive(pid), `plugin ${pid} still running`).to.equal(false);
    expect(server!.requests).to.deep.equal([]);
  });

  it('no kubeconfig at all: KUBECONFIG names a missing file, or is unset and ~/.kube/config is missing', async () => {
    process.env.HOME = dir;
    process.env.KUBECONFIG = path.join(dir, 'missing');
    const listed = await runCli(['run', '-f', 'scenario.yaml', '--provider', 'existing'], dir);
    await expectFault(
      listed,
      new RegExp(
        `^error: no kubeconfig: KUBECONFIG names ${path.join(dir, 'missing')}, and that file does not exist$`,
      ),
    );
    expect(listed.stderr).to.contain('pass --kubeconfig <file> or set KUBECONFIG');
    delete process.env.KUBECONFIG;
    const unset = await runCli(['up', '--provider', 'existing'], dir);
    await expectFault(
      unset,
      new RegExp(
        `^error: no kubeconfig: KUBECONFIG is not set and ${path.join(dir, '.kube', 'config')} does not exist$`,
      ),
    );
  });

  it('a malformed kubeconfig, or a missing --context: the file or the context named', async () => {
    await writeFile(path.join(dir, 'kubeconfig'), 'clusters: [ {name: fake, cluster: {server: x}\n');
    const malformed = await run();
    await expectFault(
      malformed,
      new RegExp(`^error: cannot read the kubeconfig: ${path.join(dir, 'kubeconfig')}: `),
    );
    await writeKubeconfig({ server: 'https://127.0.0.1:1' });
    for (const r of [await run('--context', 'prod'), await up('--context', 'prod')]) {
      await expectFault(r, /^error: no context 'prod' in the kubeconfig \(it has: fake\)$/);
    }
  });

  it("a cluster without Calico's projectcalico.org/v3 API: refused before anything is created, naming what is missing", async () => {
    server = await new FakeApiServer({ token: TOKEN }).start();
    putCalicoInstallation(server);
    putIstiod(server);
    await writeKubeconfig({ server: server.url });
    const r = await run();
    await expectFault(
      r,
      /^error: Calico's API server is missing: the cluster does not serve projectcalico.org\/v3 at all, and bulkhead's policies \(Tier, GlobalNetworkPolicy\) are applied through it; install it/,
    );
    expect(r.stderr).to.contain("nothing was created on context 'fake'");
    // Reads and access reviews only: no write reached the server.
    const writes = server.requests.filter(
      (q) => q.method !== 'GET' && !q.path.endsWith('/selfsubjectaccessreviews'),
    );
    expect(writes).to.deep.equal([]);
    expect(server.requests.some((q) => q.path === '/apis/projectcalico.org/v3')).to.equal(true);
  });

  it('run --provider existing checks what up --provider existing checks: versions and permissions, each one sentence', async () => {
    server = await new FakeApiServer({
      token: TOKEN,
      accessReview: (a) => !(a.resource === 'namespaces' && a.verb === 'create'),
    }).start();
    putReadyCluster(server);
    putIstiod(server, '1.27.0');
    await writeKubeconfig({ server: server.url });
    const r = await run();
    expect(r.code, r.stderr).to.equal(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).to.deep.equal([
      'error: Istio 1.27.0 does not support Kubernetes v1.35.0 (it supports 1.29–1.33); upgrade Istio before trusting isolation results on this cluster',
      "error: the credentials of context 'fake' may not create namespaces; use a context whose role allows them (a run creates and deletes its own namespaces)",
    ]);
    expect(
      server.requests.filter((q) => q.method !== 'GET' && !q.path.endsWith('/selfsubjectaccessreviews')),
    ).to.deep.equal([]);
  });

  it('pods that never become Ready: a wait that runs out is a fault (exit 2), not an internal error', async () => {
    await readyServer({ readyAfterMs: () => null });
    await writeKubeconfig({ server: server!.url });
    const r = await run('--ready-timeout', '1');
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(
      /^error: timed out after 1000 ms waiting for the pods of 2 workloads to be Ready/m,
    );
    expect(r.stderr).to.not.contain('internal error');
  });

  it('SIGTERM while connecting to a silent server: run stops within seconds, exit 2', async () => {
    broken = await brokenServer('silent');
    await writeKubeconfig({ server: broken.url });
    const connected = broken.connected();
    let signalledAt = 0;
    const r = await runChild(
      ['run', '-f', 'scenario.yaml', '--provider', 'existing', '--kubeconfig', 'kubeconfig'],
      {
        cwd: dir,
        // Far longer than the test: only the signal can end the connection attempt.
        env: { ...process.env, BULKHEAD_CONNECT_TIMEOUT: '120' },
        onStart: (kill) => {
          void connected.then(() => {
            signalledAt = Date.now();
            kill('SIGTERM');
          });
        },
      },
    );
    const afterSignal = Date.now() - signalledAt;
    expect(signalledAt, 'the child never connected').to.be.greaterThan(0);
    // Without the signal the attempt would wait 120 s; with it, the run ends at once.
    expect(afterSignal, r.stderr).to.be.below(3000);
    expect(r.stderr).to.contain('SIGTERM: stopping');
    await expectFault(r, new RegExp(`^error: interrupted while waiting for the API server ${broken.url} `));
  });
});

describe('environment faults: the root cause of a failed request', () => {
  const site = { server: 'https://api.example.invalid:6443', context: 'staging' };
  const fetchFailed = (cause: Error) => Object.assign(new TypeError('fetch failed'), { cause });
  const sysError = (code: string, message: string) => Object.assign(new Error(message), { code });
  const sentence = (cause: Error) =>
    environmentFault(
      new KubeApiError({
        verb: 'get',
        target: 'the server version',
        code: 0,
        detail: 'fetch failed',
        transport: transportOf(fetchFailed(cause)),
        ...site,
      }),
    ).message;

  it('digs below "fetch failed" to the system or TLS code, and says it in words', () => {
    expect(sentence(sysError('ENOTFOUND', 'getaddrinfo ENOTFOUND api.example.invalid'))).to.equal(
      'cannot connect to the API server https://api.example.invalid:6443: its host name does not resolve (ENOTFOUND)',
    );
    expect(sentence(sysError('EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.1:6443'))).to.equal(
      'cannot connect to the API server https://api.example.invalid:6443: there is no route to it (EHOSTUNREACH)',
    );
    expect(sentence(sysError('CERT_HAS_EXPIRED', 'certificate has expired'))).to.equal(
      'the TLS certificate of the API server https://api.example.invalid:6443 is not valid now: certificate has expired (CERT_HAS_EXPIRED)',
    );
    expect(
      sentence(sysError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain')),
    ).to.match(
      /^cannot verify the TLS certificate .*: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\)$/,
    );
    expect(sentence(sysError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'))).to.match(
      /^cannot verify/,
    );
    expect(
      sentence(sysError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames")),
    ).to.match(/^the TLS certificate of .* does not name that host/);
    expect(sentence(sysError('UND_ERR_SOCKET', 'other side closed'))).to.match(
      /closed the connection before answering \(UND_ERR_SOCKET\)$/,
    );
    // A plain-HTTP port as EPROTO with OpenSSL's words (other builds), the file:line trailer dropped.
    expect(
      sentence(
        sysError(
          'EPROTO',
          '4057:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../ssl/record.c:355:',
        ),
      ),
    ).to.equal(
      'the API server https://api.example.invalid:6443 does not speak TLS: something else answered on that port (EPROTO)',
    );
    // Several addresses tried (AggregateError): the first known cause.
    const many = Object.assign(
      new AggregateError([sysError('ECONNREFUSED', 'connect ECONNREFUSED ::1:6443')]),
      {
        code: 'ECONNREFUSED',
      },
    );
    expect(sentence(many)).to.match(/the connection was refused \(ECONNREFUSED\)/);
  });

  it('the connect deadline: 10 s unless BULKHEAD_CONNECT_TIMEOUT says otherwise (seconds, fractions allowed)', () => {
    expect(DEFAULT_CONNECT_TIMEOUT_MS).to.equal(10_000);
    expect(connectTimeoutMs({})).to.equal(10_000);
    expect(connectTimeoutMs({ BULKHEAD_CONNECT_TIMEOUT: '2.5' })).to.equal(2500);
    expect(() => connectTimeoutMs({ BULKHEAD_CONNECT_TIMEOUT: 'soon' })).to.throw(
      UserError,
      /BULKHEAD_CONNECT_TIMEOUT=soon/,
    );
    expect(() => connectTimeoutMs({ BULKHEAD_CONNECT_TIMEOUT: '0' })).to.throw(UserError);
  });
});
