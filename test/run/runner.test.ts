import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { readResultsRecords } from '../../harness/results/records.js';
import { ClusterRefusal } from '../../harness/run/preflight.js';
import { createProgress } from '../../harness/run/progress.js';
import { runScenario, type RunnerProps, type RunResult } from '../../harness/run/runner.js';
import type { Scenario } from '../../harness/scenario/types.js';
import type { ExecRequest } from '../support/fake-apiserver/exec.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import {
  agentBundle,
  agentExec,
  agentSubcommand,
  closedPort,
  scriptedServer,
  type Reply,
} from '../support/fake-cluster.js';
import { HEAD, load } from '../support/scenarios.js';

/** Two tenants, each with a client (probe) and an api; a NetworkPolicy as the "policy". */
const SCENARIO = `${HEAD}  tenants:
    - name: acme
      probes: false
      workloads:
        - { name: client }
        - { name: api, ports: [8080] }
    - name: globex
      probes: false
      workloads:
        - { name: client }
        - { name: api, ports: [8080] }
  policies:
    - inline: |
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: { name: deny-from-other-tenants, namespace: tenant-acme }
        spec: { podSelector: {}, policyTypes: [Ingress], ingress: [{ from: [{ podSelector: {} }] }] }
  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

interface Harness {
  server: FakeApiServer;
  scenario: Scenario;
  reports: string;
  run: (extra?: Partial<RunnerProps>) => Promise<RunResult>;
  log: string;
  lines: () => Promise<Record<string, unknown>[]>;
  progress: string[];
  close: () => Promise<void>;
}

/**
 * Starts a fake cluster where `globex-to-acme` meets `crossTenant` replies and `acme-to-acme`
 * meets `sameTenant` replies, both from real local HTTP servers.
 */
async function harness(
  crossTenant: readonly Reply[],
  sameTenant: readonly Reply[],
  override?: (r: ExecRequest) => ReturnType<ReturnType<typeof agentExec>> | undefined,
  execProtocols?: readonly string[],
  scenarioText: string = SCENARIO,
): Promise<Harness> {
  const bundlePath = await agentBundle();
  const cross = await scriptedServer(crossTenant);
  const same = await scriptedServer(sameTenant);
  const unroutedPort = await closedPort();
  const server = await new FakeApiServer({
    ...(execProtocols ? { execProtocols } : {}),
    exec: agentExec({
      bundlePath,
      unroutedPort,
      route: (source, host) =>
        host === 'api.tenant-acme.svc.cluster.local'
          ? source.namespace === 'tenant-acme'
            ? same.port
            : cross.port
          : undefined,
      ...(override ? { override } : {}),
    }),
  }).start();
  const scenario = await load(scenarioText);
  const reports = await mkdtemp(path.join(tmpdir(), 'bulkhead-reports-'));
  const progress: string[] = [];
  let last: RunResult | undefined;
  return {
    server,
    scenario,
    reports,
    progress,
    run: async (extra = {}) => {
      last = await runScenario({
        scenario,
        kubeConfig: server.kubeConfig(),
        agentBundle: '// bundle',
        directory: path.join(reports, 'run-1'),
        runId: 'run-1',
        progress: createProgress({ write: (t) => progress.push(t), interactive: false }),
        settleMs: 0,
        roundIntervalMs: 0,
        convergeTimeoutMs: 20_000,
        ...extra,
      });
      return last;
    },
    log: path.join(reports, 'run-1', 'results.jsonl'),
    lines: async () => {
      const text = await readFile(path.join(reports, 'run-1', 'results.jsonl'), 'utf8');
      return text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    close: async () => {
      await server.stop();
      await cross.close();
      await same.close();
      await rm(reports, { recursive: true, force: true });
    },
  };
}

function verdicts(result: RunResult): Record<string, string> {
  return Object.fromEntries(
    result.results.map((r) => [r.attempt.id, `${r.judgement.verdict}:${r.judgement.outcome}`]),
  );
}

describe('runner against the fake cluster', function () {
  this.timeout(30_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('deploys fixtures and policies, runs every attempt until settled, passes, and cleans up', async () => {
    h = await harness(['rbac'], ['app']);
    const result = await h.run();
    expect(verdicts(result)).to.deep.equal({
      'globex-to-acme': 'pass:denied-l7',
      'acme-to-acme': 'pass:allowed',
    });
    expect(result.exitCode).to.equal(0);
    expect(result.results.map((r) => r.judgement.rounds)).to.deep.equal([3, 3]);

    // Fixtures and the policy went in by server-side apply, namespaces first.
    const applied = h.server.requests.filter((r) => r.method === 'PATCH').map((r) => r.path);
    expect(applied.slice(0, 2)).to.deep.equal([
      '/api/v1/namespaces/tenant-acme',
      '/api/v1/namespaces/tenant-globex',
    ]);
    expect(applied).to.include('/apis/apps/v1/namespaces/tenant-acme/deployments/api');
    expect(applied).to.include('/api/v1/namespaces/tenant-globex/pods/client');
    expect(applied.at(-1)).to.equal(
      '/apis/networking.k8s.io/v1/namespaces/tenant-acme/networkpolicies/deny-from-other-tenants',
    );

    // One agent session per source pod for all three rounds (besides the exec that reads a
    // pod's resolv.conf), each ended by its input closing: exit 0, no exec left open.
    const sessions = h.server.execs.filter((e) => agentSubcommand(e.request.command) === 'session');
    const execs = sessions.map((e) => `${e.request.namespace}/${e.request.pod}`);
    expect(execs).to.have.length(2);
    expect(new Set(execs)).to.deep.equal(new Set(['tenant-acme/client', 'tenant-globex/client']));
    // node, the flags the agent's short commands run with, the bundle, the subcommand.
    expect(sessions[0]?.request.command.slice(0, 4)).to.deep.equal([
      'node',
      '--min-semi-space-size=4',
      '/agent/bulkhead-agent.mjs',
      'session',
    ]);
    expect(await Promise.all(sessions.map((e) => e.done))).to.deep.equal([0, 0]);
    expect(h.server.execCounts.open).to.equal(0);

    // Everything observed is in results.jsonl, in order, and the run's namespaces are gone.
    const lines = await h.lines();
    expect(lines.map((l) => l.type)).to.deep.equal([
      'run',
      'facts',
      'policies',
      'cluster-policies',
      'footing',
      'barrier',
      ...Array<string>(6).fill('observation'),
      'result',
      'result',
      'end',
    ]);
    expect(lines.at(-1)).to.deep.include({ exitCode: 0, passed: 2, failed: 0, errors: 0, kept: false });
    expect(lines.at(-1)).to.deep.include({ execInput: 'stdin', agentSessions: 'persistent' });
    // This fake serves no Calico API: the network barrier says so, and --settle was the only wait.
    expect(lines.find((l) => l.type === 'barrier')?.network).to.deep.include({ status: 'unavailable' });
    // Every line is a record of the results contract, read back whole.
    const read = await readResultsRecords(h.log);
    expect(read.records.map((r) => r.type)).to.deep.equal(lines.map((l) => l.type));
    expect(read.torn).to.equal(false);
    expect(h.server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.have.members([
      'default',
      'kube-system',
    ]);
    expect(h.progress.join('')).to.match(/execute: round 3: 2\/2 settled/);
  });

  it('passes batches as an argument when the API server only speaks v4 exec (Kubernetes < 1.30)', async () => {
    h = await harness(['rbac'], ['app'], undefined, ['v4.channel.k8s.io']);
    const result = await h.run();
    expect(verdicts(result)).to.deep.equal({
      'globex-to-acme': 'pass:denied-l7',
      'acme-to-acme': 'pass:allowed',
    });
    expect(result.exitCode).to.equal(0);
    const commands = h.server.execs.map((e) => e.request.command);
    expect(commands.filter((c) => c.includes('--batch'))).to.have.length(6);
    expect(h.server.execs.every((e) => e.protocol === 'v4.channel.k8s.io')).to.equal(true);
    expect((await h.lines()).at(-1)).to.deep.include({ execInput: 'argv', agentSessions: 'per-round' });
  });

  it('reproduces a failure the way the run made it: on v4 exec, a probe with the batch as an argument', async () => {
    h = await harness(['app'], ['app'], undefined, ['v4.channel.k8s.io']);
    const result = await h.run();
    const cross = result.results.find((r) => r.attempt.id === 'globex-to-acme');
    expect(cross?.judgement).to.deep.include({ verdict: 'fail', leak: true });
    const reproduce = cross?.evidence?.reproduce ?? '';
    const match =
      /^kubectl exec -n tenant-globex client -c agent -- node --min-semi-space-size=4 \/agent\/bulkhead-agent\.mjs probe --concurrency 64 --batch (\S+)$/.exec(
        reproduce,
      );
    expect(match, reproduce).to.not.equal(null);
    const items = JSON.parse(Buffer.from(match?.[1] ?? '', 'base64').toString('utf8')) as { id: string }[];
    expect(items.map((i) => i.id)).to.deep.equal(['globex-to-acme']);
    // The same item the agent was given in the run (its first batch from that pod).
    const sent =
      h.server.execs.find(
        (e) => e.request.namespace === 'tenant-globex' && e.request.command.includes('--batch'),
      )?.request.command ?? [];
    const given = JSON.parse(
      Buffer.from(sent[sent.indexOf('--batch') + 1] ?? '', 'base64').toString('utf8'),
    ) as Record<string, unknown>[];
    expect(Object.keys(items[0] ?? {}).sort()).to.deep.equal(Object.keys(given[0] ?? {}).sort());
  });

  it('takes the policy model prediction for auto expectations, and records predictions', async () => {
    // The NetworkPolicy admits only tenant-acme's own pods: the model predicts the drop (denied-l4);
    // this test's network answers with Envoy's RBAC 403 instead, so the auto attempt fails.
    const text = SCENARIO.replace(
      '  attempts:\n',
      '  attempts:\n    - { id: auto-cross, kind: http, from: tenant-globex/client, to: tenant-acme/api }\n',
    );
    h = await harness(['rbac'], ['app'], undefined, undefined, text);
    const result = await h.run();
    const auto = result.results.find((r) => r.attempt.id === 'auto-cross');
    expect(auto?.expect.words).to.deep.equal(['denied-l4']);
    expect(auto?.prediction).to.deep.include({ outcome: 'denied-l4', layer: 'network' });
    expect(auto?.judgement).to.deep.include({ verdict: 'fail', outcome: 'denied-l7' });
    const line = (await h.lines()).find((l) => l.type === 'result' && l.attempt === 'globex-to-acme');
    expect(line?.prediction).to.deep.include({ outcome: 'denied-l4', layer: 'network', agrees: true });
  });

  it('keeps repeating rounds over flapping outcomes until they settle', async () => {
    h = await harness(['rbac'], ['rbac', 'rbac', 'app']);
    const result = await h.run();
    const same = result.results.find((r) => r.attempt.id === 'acme-to-acme');
    expect(same?.judgement).to.deep.include({ verdict: 'pass', outcome: 'allowed', rounds: 5, stable: true });
    expect(result.exitCode).to.equal(0);
  });

  it('catches a leak: a must-deny attempt allowed once fails, whatever later rounds show', async () => {
    h = await harness(['rbac', 'app', 'rbac'], ['app']);
    const result = await h.run();
    const cross = result.results.find((r) => r.attempt.id === 'globex-to-acme');
    expect(cross?.judgement).to.deep.include({ verdict: 'fail', leak: true, outcome: 'allowed' });
    expect(cross?.judgement.reason).to.equal('leak: expected denied, observed allowed in round 2');
    expect(result.exitCode).to.equal(1);
    // Evidence for the failure: the observations, both pods, the policies, a reproduction command.
    expect(cross?.evidence?.observations.map((o) => o.outcome)).to.deep.equal(['denied-l7', 'allowed']);
    expect(cross?.evidence?.source?.pod).to.equal('tenant-globex/client');
    expect(cross?.evidence?.destination?.pod).to.match(/^tenant-acme\/api-/);
    expect(cross?.evidence?.policies).to.deep.equal(['NetworkPolicy tenant-acme/deny-from-other-tenants']);
    // The command repeats what ran: a session fed one batch line, at the run's concurrency.
    expect(cross?.evidence?.reproduce).to.match(
      /^kubectl exec -n tenant-globex client -c agent -i -- node --min-semi-space-size=4 \/agent\/bulkhead-agent\.mjs session --concurrency 64 <<<'\{"batch":"reproduce","attempts":\[\{"id":"globex-to-acme"/,
    );
    const result2 = (await h.lines()).find((l) => l.type === 'result' && l.attempt === 'globex-to-acme');
    expect(result2).to.deep.include({ verdict: 'fail', leak: true });
  });

  it('reports an exec that cannot start as error for its attempts, never as a deny', async () => {
    h = await harness(['rbac'], ['app'], (r) =>
      r.namespace === 'tenant-globex'
        ? spawn('/nonexistent/bulkhead-agent', [], { stdio: 'pipe' })
        : undefined,
    );
    const result = await h.run({ convergeTimeoutMs: 0 });
    const cross = result.results.find((r) => r.attempt.id === 'globex-to-acme');
    expect(cross?.judgement).to.deep.include({ verdict: 'error', outcome: 'error' });
    expect(verdicts(result)['acme-to-acme']).to.equal('pass:allowed');
    expect(result.exitCode).to.equal(2);
    const observation = (await h.lines()).find(
      (l) => l.type === 'observation' && l.attempt === 'globex-to-acme',
    );
    expect(String(observation?.reason)).to.match(
      /^the agent session in tenant-globex\/client (ended mid-batch|ended before its batch was sent): /,
    );
    expect(String(observation?.reason)).to.contain('executable file not found');
  });

  it('keeps the results a killed agent finished before it died', async () => {
    // The globex client's agent session is killed as soon as it has written its first result
    // line, in every round: nothing is lost, so every round starts a new session.
    h = await harness(['rbac'], ['app'], (r) => {
      if (r.namespace !== 'tenant-globex' || agentSubcommand(r.command) !== 'session') return undefined;
      const child = spawn(
        process.execPath,
        [
          '-e',
          `process.stdin.once('data', (d) => { const { batch } = JSON.parse(String(d).split('\\n')[0]); process.stdout.write(JSON.stringify({ batch, id: 'globex-to-acme', outcome: 'denied-l7', reason: 'r', evidence: {} }) + '\\n'); }); setInterval(()=>{},1000)`,
        ],
        {
          stdio: 'pipe',
        },
      );
      child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), 20));
      return child;
    });
    const result = await h.run();
    expect(verdicts(result)['globex-to-acme']).to.equal('pass:denied-l7');
    expect(
      h.server.execs.filter((e) => e.request.namespace === 'tenant-globex' && e.request.command[0] === 'node')
        .length,
      // The session opened before round 1 (its empty batch), then one per round.
    ).to.equal(4);
  });

  it('stops on Ctrl-C: cleans up and still writes what was observed', async () => {
    h = await harness(['rbac'], ['rbac']);
    const controller = new AbortController();
    const lines = h.lines;
    const watcher = setInterval(() => {
      lines()
        .then((ls) => {
          if (ls.filter((l) => l.type === 'observation').length >= 2) controller.abort();
        })
        .catch(() => undefined);
    }, 10);
    const result = await h.run({ signal: controller.signal, roundIntervalMs: 200 });
    clearInterval(watcher);
    expect(result.interrupted).to.equal(true);
    // acme-to-acme expected allowed and was observed denied before the stop: a failure, not a fault.
    expect(result.exitCode).to.equal(1);
    const written = await h.lines();
    expect(written.filter((l) => l.type === 'observation').length).to.be.at.least(2);
    expect(written.at(-1)).to.deep.include({ type: 'end', interrupted: true });
    expect(h.server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.have.members([
      'default',
      'kube-system',
    ]);
  });

  it('keeps what it made when asked to keep on failure', async () => {
    h = await harness(['app'], ['app']);
    const result = await h.run({ keep: 'on-failure' });
    expect(result.exitCode).to.equal(1);
    expect(result.kept).to.equal(true);
    expect(h.server.list('v1', 'Namespace').map((n) => n.metadata.name)).to.include.members([
      'tenant-acme',
      'tenant-globex',
    ]);
  });

  it('refuses a scenario namespace that exists without its label, and changes nothing', async () => {
    h = await harness(['rbac'], ['app']);
    h.server.put({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'tenant-acme', labels: { team: 'acme' } },
    });
    const error = await h.run().catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ClusterRefusal);
    expect((error as Error).message).to.contain("namespace tenant-acme already exists and is not bulkhead's");
    expect(h.server.requests.filter((r) => r.method !== 'GET')).to.deep.equal([]);
    expect(h.server.get('v1', 'Namespace', undefined, 'tenant-acme')?.metadata.labels).to.deep.include({
      team: 'acme',
    });
  });
});
