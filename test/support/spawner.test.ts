/**
 * The fake API server's spawner (fake-apiserver/spawner.ts): processes started off the fake's
 * event loop must behave, seen through the exec endpoint, as processes it spawned itself.
 */
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { KubeClient } from '../../harness/kube/client.js';
import { execInPod } from '../../harness/kube/exec.js';
import { isPodReady } from '../../harness/kube/pods.js';
import { waitFor } from '../../harness/kube/wait.js';
import { FakeApiServer, type FakeApiServerOptions } from './fake-apiserver/server.js';
import { Spawner, type SpawnedProcess } from './fake-apiserver/spawner.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from './fake-cluster.js';

const closed = (child: SpawnedProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      resolve({ code, signal });
    }),
  );

const read = (child: SpawnedProcess) => {
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return () => ({ out, err });
};

describe('fake API server: the spawner', function () {
  let spawner: Spawner;

  before(async function () {
    spawner = await Spawner.start();
  });

  after(async function () {
    await spawner.stop();
  });

  it('starts the process from its own process, not from the caller', async function () {
    const child = spawner.spawn(process.execPath, ['-e', 'process.stdout.write(String(process.ppid))']);
    const output = read(child);
    await closed(child);
    const ppid = Number(output().out);
    expect(ppid).to.be.above(1);
    expect(ppid).to.not.equal(process.pid);
  });

  it('gives the process the input written before it started, ends it on end(), and keeps every byte of output', async function () {
    // 1 MiB out, more than a socket buffer holds, just before the exit: the exit is known at
    // once, and 'close' must still wait for every byte.
    const script = `let s='';process.stdin.setEncoding('utf8').on('data',d=>s+=d).on('end',()=>{process.stdout.write(s.toUpperCase()+'x'.repeat(1<<20));process.stderr.write('warn');process.exitCode=3})`;
    const child = spawner.spawn(process.execPath, ['-e', script]);
    const output = read(child);
    child.stdin.write('line one\n');
    child.stdin.end('line two\n');
    const { code, signal } = await closed(child);
    expect({ code, signal }).to.deep.equal({ code: 3, signal: null });
    expect(child.exitCode).to.equal(3);
    const { out, err } = output();
    expect(out.slice(0, 18)).to.equal('LINE ONE\nLINE TWO\n');
    expect(out.length).to.equal(18 + (1 << 20));
    expect(err).to.equal('warn');
  });

  it('streams lines both ways while the process runs (a session)', async function () {
    const script = `require('node:readline').createInterface({input:process.stdin}).on('line',l=>process.stdout.write('<'+l+'>\\n'))`;
    const child = spawner.spawn(process.execPath, ['-e', script]);
    const output = read(child);
    await new Promise<void>((resolve) => child.once('spawn', resolve));
    expect(child.pid).to.be.a('number');
    for (const line of ['a', 'b']) {
      child.stdin.write(line + '\n');
      while (!output().out.includes(`<${line}>`)) await new Promise((r) => setTimeout(r, 10));
    }
    child.stdin.end();
    const { code } = await closed(child);
    expect(code).to.equal(0);
    expect(output().out).to.equal('<a>\n<b>\n');
  });

  it('kills with the signal asked for', async function () {
    const child = spawner.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await new Promise<void>((resolve) => child.once('spawn', resolve));
    expect(child.kill('SIGKILL')).to.equal(true);
    expect(await closed(child)).to.deep.equal({ code: null, signal: 'SIGKILL' });
  });

  it('reports a program that does not exist as ENOENT, as spawn does', async function () {
    const child = spawner.spawn('/nonexistent/program', []);
    const ended = closed(child);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => child.once('error', resolve));
    expect(error.code).to.equal('ENOENT');
    expect(await ended).to.deep.equal({ code: null, signal: null });
  });

  /** One exec with stdin through a fake API server whose exec is `exec`. */
  async function execThrough(
    exec: FakeApiServerOptions['exec'],
    command: string[],
    stdin: string,
  ): Promise<Awaited<ReturnType<typeof execInPod>>> {
    const server = await new FakeApiServer({ ...(exec ? { exec } : {}) }).start();
    try {
      const client = new KubeClient({ kubeConfig: server.kubeConfig() });
      const ns: KubernetesObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 't' } };
      await client.apply(ns);
      await client.apply({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 't' },
        spec: { containers: [{ name: 'agent', image: 'node:24-alpine' }] },
      } as KubernetesObject);
      server.setPodReady('t', 'p', true);
      await waitFor<V1Pod>(client, {
        selection: { apiVersion: 'v1', kind: 'Pod', namespace: 't' },
        until: (ps) => ps.length === 1 && ps.every(isPodReady),
        timeoutMs: 3000,
        description: 'pod Ready',
      });
      return await execInPod(client.kubeConfig, {
        namespace: 't',
        pod: 'p',
        container: 'agent',
        command,
        stdin,
        timeoutMs: 20_000,
      });
    } finally {
      await server.stop();
    }
  }

  it('runs an exec through the fake API server: stdin closed (v5), output, stderr and exit code', async function () {
    const script = `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{process.stdout.write('got:'+s);process.stderr.write('warn');process.exit(3)})`;
    const result = await execThrough(
      () => spawner.spawn(process.execPath, ['-e', script]),
      ['node', 'x'],
      '[{"id":"a"}]',
    );
    expect(result).to.deep.include({
      exitCode: 3,
      stdout: 'got:[{"id":"a"}]',
      stderr: 'warn',
      protocol: 'v5.channel.k8s.io',
    });
  });

  it('runs the real agent session through agentExec with the spawner: results, end of batch, exit 0', async function () {
    this.timeout(60_000);
    const app = await scriptedServer(['app']);
    try {
      const exec = agentExec({
        bundlePath: await agentBundle(),
        unroutedPort: await closedPort(),
        route: () => app.port,
        spawner,
      });
      const batch = (id: string) =>
        JSON.stringify({
          batch: id,
          attempts: [
            { id: `a${id}`, kind: 'http', host: 'api.t.svc.cluster.local', port: 8080, timeoutMs: 5000 },
          ],
        }) + '\n';
      const result = await execThrough(
        exec,
        ['node', '/agent/bulkhead-agent.mjs', 'session', '--concurrency', '4'],
        batch('1') + batch('2'),
      );
      expect(result.exitCode).to.equal(0);
      const lines = result.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { batch: string; id?: string; outcome?: string; end?: true });
      expect(lines.map((l) => [l.batch, l.end ? 'end' : `${l.id ?? ''}:${l.outcome ?? ''}`])).to.deep.equal([
        ['1', 'a1:allowed'],
        ['1', 'end'],
        ['2', 'a2:allowed'],
        ['2', 'end'],
      ]);
      expect(app.hits()).to.equal(2);
    } finally {
      await app.close();
    }
  });
});
