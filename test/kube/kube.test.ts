import { spawn } from 'node:child_process';

import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { KubeClient } from '../../harness/kube/client.js';
import { KubeApiError } from '../../harness/kube/errors.js';
import { ExecError, execInPod } from '../../harness/kube/exec.js';
import { eventsFor, isPodReady, podLogs } from '../../harness/kube/pods.js';
import { waitFor, WaitTimeoutError } from '../../harness/kube/wait.js';
import { FakeApiServer, type FakeApiServerOptions } from '../support/fake-apiserver/server.js';

const namespace = (name: string, labels: Record<string, string> = {}): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels },
});

const deployment = (ns: string, name: string): V1Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'bulkhead' } },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'agent', image: 'node:24-alpine' }] },
    },
  },
});

const tierCrd: KubernetesObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'tiers.projectcalico.org' },
  spec: {
    group: 'projectcalico.org',
    scope: 'Cluster',
    names: { kind: 'Tier', plural: 'tiers', singular: 'tier', listKind: 'TierList' },
    versions: [
      {
        name: 'v3',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { order: { type: 'number' } } } },
          },
        },
      },
    ],
  },
} as KubernetesObject;

async function withServer(
  options: FakeApiServerOptions,
  body: (server: FakeApiServer, client: KubeClient) => Promise<void>,
) {
  const server = await new FakeApiServer(options).start();
  try {
    await body(server, new KubeClient({ kubeConfig: server.kubeConfig() }));
  } finally {
    await server.stop();
  }
}

/** A command the fake "pod" runs: a real node process. */
const nodeScript = (code: string) => () => spawn(process.execPath, ['-e', code], { stdio: 'pipe' });

describe('kube layer against the fake API server', function () {
  this.timeout(15_000);

  describe('apply, read, list, delete', () => {
    it('applies built-in kinds server-side with field manager bulkhead and force', async () => {
      await withServer({}, async (server, client) => {
        await client.apply(namespace('tenant-acme', { tenant: 'acme' }));
        await client.apply(deployment('tenant-acme', 'api'));
        const applies = server.requests.filter((r) => r.method === 'PATCH');
        expect(applies.map((r) => r.path)).to.deep.equal([
          '/api/v1/namespaces/tenant-acme',
          '/apis/apps/v1/namespaces/tenant-acme/deployments/api',
        ]);
        for (const r of applies) {
          expect(r.contentType).to.equal('application/apply-patch+yaml');
          expect(r.query).to.include({ fieldManager: 'bulkhead', force: 'true' });
        }
        const ns = await client.read({ apiVersion: 'v1', kind: 'Namespace', name: 'tenant-acme' });
        expect(ns?.metadata?.labels).to.include({
          tenant: 'acme',
          'kubernetes.io/metadata.name': 'tenant-acme',
        });
      });
    });

    it('re-applying is idempotent and drops labels bulkhead no longer applies', async () => {
      await withServer({}, async (_server, client) => {
        await client.apply(namespace('t', { a: '1', b: '2' }));
        const again = await client.apply(namespace('t', { a: '1' }));
        expect(again.metadata?.labels).to.deep.equal({ a: '1', 'kubernetes.io/metadata.name': 't' });
      });
    });

    it('applies a CRD, then objects of the kind it defines', async () => {
      await withServer({}, async (_server, client) => {
        await client.apply(tierCrd);
        await client.apply({
          apiVersion: 'projectcalico.org/v3',
          kind: 'Tier',
          metadata: { name: 'bulkhead' },
          spec: { order: 100 },
        } as KubernetesObject);
        const { items } = await client.list({ apiVersion: 'projectcalico.org/v3', kind: 'Tier' });
        expect(items.map((t) => t.metadata?.name)).to.deep.equal(['bulkhead']);
      });
    });

    it('lists by label selector and deletes only what carries the label', async () => {
      await withServer({}, async (server, client) => {
        await client.apply(
          namespace('mine', { 'app.kubernetes.io/managed-by': 'bulkhead', 'bulkhead.dev/run': 'r1' }),
        );
        await client.apply(
          namespace('other-run', { 'app.kubernetes.io/managed-by': 'bulkhead', 'bulkhead.dev/run': 'r2' }),
        );
        await client.apply(namespace('theirs'));
        const selector = 'app.kubernetes.io/managed-by=bulkhead,bulkhead.dev/run=r1';
        const { items } = await client.list({ apiVersion: 'v1', kind: 'Namespace', labelSelector: selector });
        expect(items.map((n) => n.metadata?.name)).to.deep.equal(['mine']);
        const deleted = await client.deleteByLabel([{ apiVersion: 'v1', kind: 'Namespace' }], selector);
        expect(deleted.map((r) => r.name)).to.deep.equal(['mine']);
        expect(server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.have.members([
          'default',
          'kube-system',
          'other-run',
          'theirs',
        ]);
        expect(await client.delete({ apiVersion: 'v1', kind: 'Namespace', name: 'mine' })).to.equal(false);
      });
    });

    it('refuses to delete by an empty selector', async () => {
      await withServer({}, async (_server, client) => {
        const error = await client
          .deleteByLabel([{ apiVersion: 'v1', kind: 'Namespace' }], ' ')
          .catch((e: unknown) => e);
        expect(String(error)).to.contain('refusing to delete everything');
      });
    });

    it('reports API failures as typed errors naming the verb, the object and the Status', async () => {
      await withServer({}, async (_server, client) => {
        const error = await client.apply(deployment('nowhere', 'api')).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(KubeApiError);
        const e = error as KubeApiError;
        expect([e.verb, e.target, e.code, e.reason]).to.deep.equal([
          'apply',
          'Deployment nowhere/api',
          404,
          'NotFound',
        ]);
        expect(e.message).to.equal(
          'apply Deployment nowhere/api: 404 NotFound: namespaces "nowhere" not found',
        );
      });
    });

    it('reports a rejected credential as 401 Unauthorized', async () => {
      const server = await new FakeApiServer().start();
      try {
        const other = await new FakeApiServer().start();
        // A kubeconfig with the other server's token, pointed at this server.
        const kc = other.kubeConfig();
        kc.clusters[0] = { ...kc.clusters[0]!, server: server.url };
        await other.stop();
        const error = await new KubeClient({ kubeConfig: kc })
          .read({ apiVersion: 'v1', kind: 'Namespace', name: 'default' })
          .catch((e: unknown) => e);
        expect(error).to.be.instanceOf(KubeApiError);
        expect((error as KubeApiError).code).to.equal(401);
      } finally {
        await server.stop();
      }
    });
  });

  describe('waiting', () => {
    it('waits for pods to become Ready through the watch, on the schedule the server sets', async () => {
      await withServer({ readyAfterMs: () => 200 }, async (server, client) => {
        await client.apply(namespace('t'));
        await client.apply(deployment('t', 'api'));
        const started = Date.now();
        const pods = await waitFor<V1Pod>(client, {
          selection: { apiVersion: 'v1', kind: 'Pod', namespace: 't', labelSelector: 'app=api' },
          until: (ps) => ps.length === 1 && ps.every(isPodReady),
          timeoutMs: 5000,
          description: 'api Ready',
        });
        expect(Date.now() - started).to.be.at.least(150);
        expect(pods).to.have.length(1);
        expect(server.requests.some((r) => r.query.watch === 'true')).to.equal(true);
      });
    });

    it('re-lists and watches again when the server closes the watch', async () => {
      await withServer({ readyAfterMs: () => null, watchLifetimeMs: 100 }, async (server, client) => {
        await client.apply(namespace('t'));
        await client.apply(deployment('t', 'api'));
        setTimeout(() => {
          const pod = server.list('v1', 'Pod', 't')[0];
          if (pod) server.setPodReady('t', pod.metadata.name, true);
        }, 450);
        await waitFor<V1Pod>(client, {
          selection: { apiVersion: 'v1', kind: 'Pod', namespace: 't' },
          until: (ps) => ps.length > 0 && ps.every(isPodReady),
          timeoutMs: 5000,
          description: 'pods Ready',
        });
        const watches = server.requests.filter((r) => r.query.watch === 'true').length;
        expect(watches).to.be.at.least(3);
      });
    });

    it('times out with what it waited for and the last state seen', async () => {
      await withServer({ readyAfterMs: () => null }, async (_server, client) => {
        await client.apply(namespace('t'));
        await client.apply(deployment('t', 'api'));
        const error = await waitFor<V1Pod>(client, {
          selection: { apiVersion: 'v1', kind: 'Pod', namespace: 't' },
          until: (ps) => ps.length > 0 && ps.every(isPodReady),
          timeoutMs: 300,
          description: 'pods of t Ready',
          describeState: (ps) => `${ps.filter(isPodReady).length}/${ps.length} ready`,
        }).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(WaitTimeoutError);
        expect((error as Error).message).to.equal(
          'timed out after 300 ms waiting for pods of t Ready (0/1 ready)',
        );
      });
    });
  });

  describe('exec', () => {
    async function readyPod(server: FakeApiServer, client: KubeClient): Promise<string> {
      await client.apply(namespace('t'));
      await client.apply(deployment('t', 'api'));
      const [pod] = await waitFor<V1Pod>(client, {
        selection: { apiVersion: 'v1', kind: 'Pod', namespace: 't' },
        until: (ps) => ps.length === 1 && ps.every(isPodReady),
        timeoutMs: 3000,
        description: 'pod Ready',
      });
      server;
      return pod?.metadata?.name ?? '';
    }

    it('sends stdin, closes it (v5), and returns stdout, stderr and the exit code', async () => {
      const script = `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{process.stdout.write('got:'+s);process.stderr.write('warn');process.exit(3)})`;
      await withServer({ exec: nodeScript(script) }, async (server, client) => {
        const pod = await readyPod(server, client);
        const result = await execInPod(client.kubeConfig, {
          namespace: 't',
          pod,
          container: 'agent',
          command: ['node', '/agent/agent.js', 'probe'],
          stdin: '[{"id":"a"}]',
          timeoutMs: 5000,
        });
        expect(result).to.deep.include({
          exitCode: 3,
          stdout: 'got:[{"id":"a"}]',
          stderr: 'warn',
          protocol: 'v5.channel.k8s.io',
        });
        expect(server.execs[0]?.request.command).to.deep.equal(['node', '/agent/agent.js', 'probe']);
      });
    });

    it('refuses stdin on a v4-only server instead of losing the output, and runs without stdin', async () => {
      await withServer(
        { execProtocols: ['v4.channel.k8s.io'], exec: nodeScript(`process.stdout.write('v4 ok')`) },
        async (server, client) => {
          const pod = await readyPod(server, client);
          const error = await execInPod(client.kubeConfig, {
            namespace: 't',
            pod,
            container: 'agent',
            command: ['x'],
            stdin: 'data',
            timeoutMs: 5000,
          }).catch((e: unknown) => e);
          expect(error).to.be.instanceOf(ExecError);
          expect((error as ExecError).failure).to.equal('stdin-unsupported');
          const ok = await execInPod(client.kubeConfig, {
            namespace: 't',
            pod,
            container: 'agent',
            command: ['x'],
            timeoutMs: 5000,
          });
          expect(ok).to.deep.include({ exitCode: 0, stdout: 'v4 ok', protocol: 'v4.channel.k8s.io' });
        },
      );
    });

    it('reports a killed command with exit 137 and keeps the output it had written', async () => {
      const script = `process.stdout.write('{"id":"first"}\\n');setInterval(()=>{},1000)`;
      await withServer({ exec: nodeScript(script) }, async (server, client) => {
        const pod = await readyPod(server, client);
        const chunks: string[] = [];
        const running = execInPod(client.kubeConfig, {
          namespace: 't',
          pod,
          container: 'agent',
          command: ['agent'],
          timeoutMs: 5000,
          onStdout: (c) => chunks.push(c.toString()),
        });
        while (chunks.length === 0) await new Promise((r) => setTimeout(r, 20));
        server.execs[0]?.process.kill('SIGKILL');
        const result = await running;
        expect(result.exitCode).to.equal(137);
        expect(result.stdout).to.equal('{"id":"first"}\n');
      });
    });

    it('times out with a typed error and the partial output', async () => {
      await withServer(
        { exec: nodeScript(`process.stdout.write('partial');setInterval(()=>{},1000)`) },
        async (server, client) => {
          const pod = await readyPod(server, client);
          const error = await execInPod(client.kubeConfig, {
            namespace: 't',
            pod,
            container: 'agent',
            command: ['x'],
            // Long enough for the script's node to start and write on a loaded runner; the
            // interval keeps it running well past the deadline.
            timeoutMs: 4000,
          }).catch((e: unknown) => e);
          expect(error).to.be.instanceOf(ExecError);
          expect((error as ExecError).failure).to.equal('timeout');
          expect((error as ExecError).stdout).to.equal('partial');
        },
      );
    });

    it('fails to connect to a pod that does not exist, or a container it does not have', async () => {
      await withServer({ exec: nodeScript('') }, async (server, client) => {
        const pod = await readyPod(server, client);
        const missing = await execInPod(client.kubeConfig, {
          namespace: 't',
          pod: 'nope',
          container: 'agent',
          command: ['x'],
          timeoutMs: 3000,
        }).catch((e: unknown) => e);
        expect((missing as ExecError).failure).to.equal('connect');
        expect((missing as Error).message).to.contain('404');
        const container = await execInPod(client.kubeConfig, {
          namespace: 't',
          pod,
          container: 'istio-proxy',
          command: ['x'],
          timeoutMs: 3000,
        }).catch((e: unknown) => e);
        expect((container as ExecError).failure).to.equal('connect');
        expect((container as Error).message).to.contain('400');
      });
    });
  });

  describe('diagnostics', () => {
    it('reads the tail of a container log and the events of an object', async () => {
      await withServer({}, async (server, client) => {
        await client.apply(namespace('t'));
        server.put({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'p', namespace: 't' },
          spec: { containers: [{ name: 'agent' }, { name: 'istio-proxy' }] },
        });
        server.setLogs('t', 'p', 'istio-proxy', 'one\ntwo\nthree\n');
        expect(
          await podLogs(client.kubeConfig, {
            namespace: 't',
            pod: 'p',
            container: 'istio-proxy',
            tailLines: 2,
          }),
        ).to.equal('two\nthree\n');
        const bad = await podLogs(client.kubeConfig, { namespace: 't', pod: 'p', container: 'nope' }).catch(
          (e: unknown) => e,
        );
        expect((bad as KubeApiError).message).to.contain('container nope is not valid for pod p');
        for (const [name, reason, time] of [
          ['e2', 'Started', '2026-01-01T00:00:02Z'],
          ['e1', 'Pulled', '2026-01-01T00:00:01Z'],
        ] as const) {
          server.put({
            apiVersion: 'v1',
            kind: 'Event',
            metadata: { name, namespace: 't' },
            involvedObject: { kind: 'Pod', name: 'p', namespace: 't' },
            reason,
            lastTimestamp: time,
          });
        }
        server.put({
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: 'other', namespace: 't' },
          involvedObject: { kind: 'Pod', name: 'q' },
          reason: 'X',
        });
        const events = await eventsFor(client.kubeConfig, { namespace: 't', kind: 'Pod', name: 'p' });
        expect(events.map((e) => e.reason)).to.deep.equal(['Pulled', 'Started']);
      });
    });
  });
});
