/**
 * `bulkhead upgrade-check` end to end on the provider stubs: stub kind/docker on PATH, istioctl
 * 1.29.3 and 1.30.4 served as verified release archives from loopback, the fake API server with
 * the real agent behind exec. The test plays Istio's part from outside: istioctl's install
 * (re)writes istiod, and an admission hook injects an istio-proxy of the version of the istiod
 * the namespace points at (istio-injection first, then istio.io/rev, as Istio decides). The
 * "network" can leak one boundary only while the mesh is mixed (new istiod, old sidecar).
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { FakeApiServer } from '../support/fake-apiserver/server.js';
import type { ExecRequest } from '../support/fake-apiserver/exec.js';
import { runCli } from '../support/cli.js';
import { FakeIstiod } from '../support/istiod.js';
import { agentBundle, agentExec, closedPort, scriptedServer } from '../support/fake-cluster.js';
import { HEAD } from '../support/scenarios.js';
import {
  kindKubeconfig,
  putNodes,
  releaseServer,
  serveCalico,
  serveIstioctl,
  simulateControllers,
  writeStubs,
  type ReleaseServer,
  type Stubs,
} from '../cluster/support.js';

const SCENARIO = `${HEAD}  tenants:
    - name: acme
      workloads: [{ name: client }, { name: api, ports: [8080] }]
    - name: globex
      probes: false
      workloads: [{ name: client }]
  attempts:
    - { id: globex-to-acme, kind: http, from: tenant-globex/client, to: tenant-acme/api, expect: denied }
    - { id: acme-to-acme, kind: http, from: tenant-acme/client, to: tenant-acme/api, expect: allowed }
`;

interface PodShape {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    containers?: { name: string; image?: string }[];
    initContainers?: { name: string; image?: string }[];
  };
}

interface Exec {
  readonly at: number;
  readonly uid: string;
}

interface Phase {
  readonly startedAt: number;
  readonly endedAt: number;
}

describe('cli: bulkhead upgrade-check (stub tools, local releases, fake API server)', function () {
  this.timeout(60_000);
  let dir: string;
  let api: FakeApiServer;
  let app: Awaited<ReturnType<typeof scriptedServer>>;
  let releases: ReleaseServer;
  let stubs: Stubs;
  let stopControllers: () => void;
  let stopUpgrades: () => void;
  let mirrors: string[];
  /** When true, globex reaches acme's api from a sidecar older than istiod (the mixed-state bug). */
  let leakWhenMixed: boolean;
  /** When true, a 1.29.3 sidecar rejects (NACKs) every LDS push of istiod 1.30.4. */
  let nackWhenMixed: boolean;
  /** How long istiod's rollout takes after istioctl's upgrade, and whether globex reaches acme's api meanwhile. */
  let rollout: { delayMs: number; leak: boolean; startedAt?: number; endedAt?: number };
  let istiod: FakeIstiod;
  /** Every tenant pod creation the API server admitted, and every exec a probe made. */
  let created: { at: number; name: string }[];
  let execs: Exec[];
  /** Every host a probe dialled. */
  let dialled: string[];
  const saved = { ...process.env };

  const istiodImage = (name: string): string | undefined => {
    const d = api.get('apps/v1', 'Deployment', 'istio-system', name) as
      { spec?: { template?: { spec?: { containers?: { image?: string }[] } } } } | undefined;
    return d?.spec?.template?.spec?.containers?.[0]?.image;
  };
  const tagOf = (image: string | undefined) => image?.split(':').at(-1);

  /** Istio's injector, as it behaves: istio-injection=enabled wins over istio.io/rev. */
  const inject = (object: Record<string, unknown>): Record<string, unknown> => {
    if (object.kind !== 'Pod') return object;
    const pod = object as PodShape;
    const ns = pod.metadata?.namespace ?? '';
    if (!ns.startsWith('tenant-')) return object;
    created.push({ at: Date.now(), name: pod.metadata?.name ?? '' });
    if (pod.metadata?.labels?.['sidecar.istio.io/inject'] === 'false') return object;
    const labels = api.get('v1', 'Namespace', undefined, ns)?.metadata.labels ?? {};
    const revision =
      labels['istio-injection'] === 'enabled' ? 'default' : (labels['istio.io/rev'] ?? undefined);
    if (!revision) return object;
    const image = istiodImage(revision === 'default' ? 'istiod' : `istiod-${revision}`);
    if (!image) return object;
    const version = tagOf(image) ?? '';
    return {
      ...pod,
      metadata: {
        ...pod.metadata,
        annotations: {
          ...pod.metadata?.annotations,
          'sidecar.istio.io/status': JSON.stringify({ containers: ['istio-proxy'], revision }),
        },
      },
      spec: {
        ...pod.spec,
        initContainers: [
          ...(pod.spec?.initContainers ?? []),
          { name: 'istio-proxy', image: `docker.io/istio/proxyv2:${version}`, restartPolicy: 'Always' },
        ],
      },
    };
  };

  /** A proxy id's pod: the revision that injected its sidecar and the sidecar's version. */
  const sidecarOf = (proxyId: string): { revision: string; version?: string } => {
    const dot = proxyId.lastIndexOf('.');
    const pod = api.get('v1', 'Pod', proxyId.slice(dot + 1), proxyId.slice(0, dot)) as PodShape | undefined;
    const status = pod?.metadata?.annotations?.['sidecar.istio.io/status'];
    const revision = status ? (JSON.parse(status) as { revision?: string }).revision : undefined;
    const image = pod?.spec?.initContainers?.find((c) => c.name === 'istio-proxy')?.image;
    return { revision: revision ?? 'default', ...(image ? { version: tagOf(image) } : {}) };
  };

  const proxyOf = (request: ExecRequest): { version?: string; uid: string } => {
    const pod = api.get('v1', 'Pod', request.namespace, request.pod) as PodShape | undefined;
    const proxy = pod?.spec?.initContainers?.find((c) => c.name === 'istio-proxy');
    return { uid: pod?.metadata?.uid ?? '', ...(proxy?.image ? { version: tagOf(proxy.image) } : {}) };
  };

  /** istioctl's second and later installs, observed from outside: istiod of the new version. */
  const simulateUpgrades = (versions: readonly string[]): (() => void) => {
    let handled = 1;
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        const installs = (await stubs.calls()).filter((c) => c[0] === 'istioctl' && c[1] === 'install');
        for (; handled < installs.length; handled++) {
          if (rollout.delayMs > 0) {
            // The rollout window: the new istiod is not there yet.
            rollout.startedAt = Date.now();
            await new Promise((resolve) => setTimeout(resolve, rollout.delayMs));
          }
          const args = installs[handled] ?? [];
          const version = versions[handled] ?? '';
          const at = args.indexOf('--revision');
          const revision = at >= 0 ? args[at + 1] : undefined;
          const name = revision ? `istiod-${revision}` : 'istiod';
          const existing = api.get('apps/v1', 'Deployment', 'istio-system', name);
          api.put({
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: {
              ...(existing?.metadata ?? {}),
              name,
              namespace: 'istio-system',
              labels: { app: 'istiod', 'istio.io/rev': revision ?? 'default' },
            },
            spec: {
              replicas: 1,
              // istio-discovery/templates/deployment.yaml:35-56 @1.30.3: a revision's selector
              // names it, the default one selects `istio: pilot`.
              selector: {
                matchLabels: revision ? { app: 'istiod', 'istio.io/rev': revision } : { istio: 'pilot' },
              },
              template: {
                metadata: {
                  labels: {
                    app: 'istiod',
                    'istio.io/rev': revision ?? 'default',
                    istio: revision ? 'istiod' : 'pilot',
                  },
                },
                spec: { containers: [{ name: 'discovery', image: `docker.io/istio/pilot:${version}` }] },
              },
            },
          });
          // The proxies that (re)connect get the new istiod's full configuration.
          istiod.push();
          if (rollout.startedAt !== undefined && rollout.endedAt === undefined) rollout.endedAt = Date.now();
        }
      })().finally(() => {
        busy = false;
      });
    }, 10);
    return () => {
      clearInterval(timer);
    };
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-upgrade-'));
    created = [];
    execs = [];
    dialled = [];
    leakWhenMixed = false;
    nackWhenMixed = false;
    rollout = { delayMs: 0, leak: false };
    app = await scriptedServer(['app']);
    const unrouted = await closedPort();
    const late: { istiod?: FakeIstiod } = {};
    const agent = agentExec({
      bundlePath: await agentBundle(),
      unroutedPort: unrouted,
      route: (source, host) => {
        const proxy = proxyOf(source);
        execs.push({ at: Date.now(), uid: proxy.uid });
        dialled.push(host);
        if (source.namespace === 'tenant-acme' && host.startsWith('api.')) return app.port;
        const mixed = proxy.version !== undefined && proxy.version !== tagOf(istiodImage('istiod'));
        if (leakWhenMixed && mixed && host.startsWith('api.tenant-acme')) return app.port;
        const rolling = rollout.startedAt !== undefined && rollout.endedAt === undefined;
        if (rollout.leak && rolling && host.startsWith('api.tenant-acme')) return app.port;
        return undefined;
      },
    });
    api = await new FakeApiServer({
      kubernetesVersion: 'v1.35.0',
      // This test's injector follows istiod's version and revision itself.
      admit: inject,
      sidecarInjector: false,
      // istiod's syncz from the istiod pods, everything else by the agent.
      exec: (request) => late.istiod?.exec(request) ?? agent(request),
    }).start();
    istiod = late.istiod = new FakeIstiod(api, {
      // Each istiod lists the sidecars its revision injected.
      serves: (at, proxyId) => {
        const pod = api.get('v1', 'Pod', at.namespace, at.pod);
        return (pod?.metadata.labels?.['istio.io/rev'] ?? 'default') === sidecarOf(proxyId).revision;
      },
      istioVersion: (proxyId) => sidecarOf(proxyId).version ?? '',
      nack: (proxyId) =>
        nackWhenMixed && sidecarOf(proxyId).version === '1.29.3' && tagOf(istiodImage('istiod')) === '1.30.4'
          ? "Error adding/updating listener(s) virtualInbound: Didn't find a registered implementation for type URL"
          : undefined,
    });
    putNodes(api, 'bulkhead', 0);
    releases = await releaseServer();
    stubs = await writeStubs(dir, kindKubeconfig(api));
    const istioBase = await serveIstioctl(releases, dir, '1.29.3');
    await serveIstioctl(releases, dir, '1.30.4');
    mirrors = [
      '--istio-base-url',
      istioBase,
      '--calico-base-url',
      serveCalico(releases, 'v3.31.2'),
      '--provision-timeout',
      '10',
      '--workers',
      '0',
      '--settle',
      '0',
      '--round-interval',
      '0',
      '--run-id',
      'u1',
    ];
    stopControllers = simulateControllers(api, stubs, { calico: 'v3.31.2', istio: '1.29.3' });
    stopUpgrades = () => undefined;
    await writeFile(path.join(dir, 'scenario.yaml'), SCENARIO);
    process.env.PATH = stubs.env.PATH;
    process.env.STUB_STATE = stubs.env.STUB_STATE;
    process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
  });
  afterEach(async () => {
    for (const key of ['PATH', 'STUB_STATE', 'XDG_CACHE_HOME']) {
      if (saved[key] === undefined) Reflect.deleteProperty(process.env, key);
      else process.env[key] = saved[key];
    }
    stopControllers();
    stopUpgrades();
    istiod.stop();
    await api.stop();
    await app.close();
    await releases.close();
    await rm(dir, { recursive: true, force: true });
  });

  const phaseWindow = async (phase: string): Promise<Phase> => {
    const doc = JSON.parse(
      await readFile(path.join(dir, 'reports', 'u1', phase, 'results.json'), 'utf8'),
    ) as {
      run: { startedAt: string; endedAt: string };
    };
    return { startedAt: Date.parse(doc.run.startedAt), endedAt: Date.parse(doc.run.endedAt) };
  };
  const execsIn = (w: Phase) =>
    new Set(execs.filter((e) => e.at >= w.startedAt && e.at <= w.endedAt).map((e) => e.uid));
  const istioctlLines = (log: string) =>
    log
      .split('\n')
      .filter((l) => /^\$ \S+\/istioctl /.test(l))
      .map((l) => l.replace(/^\$ \S+\/istio\/([\d.]+)-\w+\/istioctl/, 'istioctl@$1'));

  interface Summary {
    phases: {
      name: string;
      folder: string;
      exitCode: number;
      observed: {
        controlPlanes: { name: string; revision: string; version?: string }[];
        pods: {
          pod: string;
          uid: string;
          proxy: string;
          revision?: string;
          workload?: string;
          servedBy?: { istiod: string; revision: string; version?: string };
        }[];
        rejections: { pod: string; type: string; revision: string; message: string }[];
      };
      claim?: { claim: string; verified: boolean; detail: string; crossRevision?: string[] };
    }[];
    faults: { phase: string; kind: string; type?: string; pod?: string; message: string }[];
    diffs: {
      fromPhase: string;
      toPhase: string;
      regressions: number;
      changes: { id: string; kind: string }[];
    }[];
    mustDenyFailures: { phase: string; id: string; outcome: string }[];
    changed: string[];
    transitions: {
      name: string;
      into: string;
      startedAt: string;
      completed: boolean;
      barrier: { status: string; reasoning: string };
      method: { ratePerSecond: number };
      attempts: { id: string; mustDeny: boolean; observed: number; errors: number }[];
      leaks: { attempt: string; at: string; offsetMs: number; outcome: string; pod: string }[];
      leakCount: number;
      disruptions: unknown[];
    }[];
  }
  const summary = async (): Promise<Summary> =>
    JSON.parse(await readFile(path.join(dir, 'reports', 'u1', 'upgrade-check.json'), 'utf8')) as Summary;

  it('in place: runs before, mixed and after in order with istioctl 1.29.3 then 1.30.4; the mixed phase keeps the old sidecars; a leak only in the mixed phase shows in the diff and exits 1', async () => {
    leakWhenMixed = true;
    stopUpgrades = simulateUpgrades(['1.29.3', '1.30.4']);
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', ...mirrors],
      dir,
    );
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(1);

    // istioctl: the install of --from while provisioning, then the upgrade by --to's istioctl.
    const provision = await readFile(path.join(dir, 'reports', 'u1', 'provision.log'), 'utf8');
    const installs = istioctlLines(provision);
    expect(installs).to.have.length(2);
    expect(installs[0]).to.match(
      /^istioctl@1\.29\.3 install -y --kubeconfig \S+ --context kind-bulkhead --set profile=minimal /,
    );
    expect(installs[1]).to.match(
      /^istioctl@1\.30\.4 install -y --kubeconfig \S+ --context kind-bulkhead --set profile=minimal /,
    );
    expect(installs[1]).not.to.contain('--revision');
    // The upgrade came after the first phase and before the second.
    const [before, mixed, after] = await Promise.all(['before', 'mixed', 'after'].map(phaseWindow));
    if (!before || !mixed || !after) throw new Error('three phases');
    expect(before.endedAt).to.be.at.most(mixed.startedAt);
    expect(mixed.endedAt).to.be.at.most(after.startedAt);

    // No pod was created between the first phase's start and the end of the mixed phase; the
    // restart recreated every one of them before the last phase.
    const pods = 5; // acme: client, api, probe, probe-nosidecar (bare pods); globex: client
    expect(created.filter((c) => c.at <= mixed.endedAt)).to.have.length(pods);
    expect(created.filter((c) => c.at > mixed.endedAt && c.at < after.startedAt)).to.have.length(pods);
    // The mixed phase probed from the very pods of the first phase; the last one from new pods.
    const [b, m, a] = [execsIn(before), execsIn(mixed), execsIn(after)];
    expect([...m]).to.have.members([...b]);
    expect([...a].filter((uid) => b.has(uid))).to.deep.equal([]);

    // The versions are the ones read from the cluster in each phase.
    const s = await summary();
    const proxies = (i: number) => [...new Set(s.phases[i]?.observed.pods.map((p) => p.proxy))].sort();
    expect(
      s.phases.map((p) => [p.name, p.folder, p.observed.controlPlanes.map((c) => c.version).join()]),
    ).to.deep.equal([
      ['before', 'before', '1.29.3'],
      ['mixed', 'mixed', '1.30.4'],
      ['after', 'after', '1.30.4'],
    ]);
    expect(proxies(0)).to.deep.equal(['1.29.3', 'none']);
    expect(proxies(1)).to.deep.equal(['1.29.3', 'none']);
    expect(proxies(2)).to.deep.equal(['1.30.4', 'none']);
    expect(s.phases[1]?.observed.pods.map((p) => p.uid)).to.have.members(
      s.phases[0]?.observed.pods.map((p) => p.uid) ?? [],
    );
    // Which istiod served each sidecar, as the istiods listed them: the mixed phase is verified
    // mixed (old sidecars, new istiod), and says so.
    const served = (i: number) => [
      ...new Set(
        s.phases[i]?.observed.pods
          .filter((p) => p.proxy !== 'none')
          .map((p) => `${p.proxy} by ${p.servedBy?.version ?? 'nobody'} (${p.servedBy?.revision ?? ''})`),
      ),
    ];
    expect(served(0)).to.deep.equal(['1.29.3 by 1.29.3 (default)']);
    expect(served(1)).to.deep.equal(['1.29.3 by 1.30.4 (default)']);
    expect(served(2)).to.deep.equal(['1.30.4 by 1.30.4 (default)']);
    expect(s.phases.map((p) => p.claim)).to.deep.equal([
      undefined,
      { claim: 'mixed', verified: true, detail: '4 sidecars at 1.29.3, each served by istiod 1.30.4' },
      undefined,
    ]);
    expect(s.faults).to.deep.equal([]);
    expect(r.stdout).to.contain('mixed: mixed verified: 4 sidecars at 1.29.3, each served by istiod 1.30.4');

    // The leak of the mixed phase: a must-deny failure, a regression in the diff, on stdout.
    expect(s.mustDenyFailures.map((f) => [f.phase, f.id, f.outcome])).to.deep.equal([
      ['mixed', 'globex-to-acme', 'allowed'],
    ]);
    expect(s.diffs.map((d) => [d.fromPhase, d.toPhase, d.regressions])).to.deep.equal([
      ['before', 'mixed', 1],
      ['mixed', 'after', 0],
    ]);
    expect(s.diffs[0]?.changes).to.deep.include({
      ...s.diffs[0]?.changes[0],
      id: 'globex-to-acme',
      kind: 'newly-allowed',
    });
    expect(s.changed).to.deep.equal(['globex-to-acme']);
    expect(r.stdout).to.match(
      /^before\s+Istio 1\.29\.3\s+1\.29\.3\s+1\.29\.3 ×4, none ×1\s+2\s+0\s+0\s+before$/m,
    );
    expect(r.stdout).to.match(
      /^mixed\s+control plane 1\.30\.4, sidecars 1\.29\.3\s+1\.30\.4\s+1\.29\.3 ×4, none ×1\s+1\s+1\s+0\s+mixed$/m,
    );
    expect(r.stdout).to.match(
      /^after\s+Istio 1\.30\.4, workloads restarted\s+1\.30\.4\s+1\.30\.4 ×4, none ×1\s+2\s+0\s+0\s+after$/m,
    );
    expect(r.stdout).to.match(
      /^REGRESSION\s+globex-to-acme\s+denied\s+refused \[pass\]\s+allowed \(leak\) \[fail\]\s+refused \[pass\]$/m,
    );
    expect(r.stdout).to.contain('1 must-deny failure: globex-to-acme in mixed (allowed)');
    const junit = await readFile(path.join(dir, 'reports', 'u1', 'upgrade-check.xml'), 'utf8');
    expect(junit).to.match(
      /<testcase name="globex-to-acme \[mixed\]"[^>]*>\s*<properties>[\s\S]*?<failure message="must-deny boundary failed in mixed/,
    );
    expect(junit).to.match(
      /<testcase name="globex-to-acme: newly-allowed"[\s\S]*?<failure message="must-deny regression from before to mixed/,
    );
    for (const phase of ['before', 'mixed', 'after'])
      for (const file of ['results.jsonl', 'results.json', 'junit.xml', 'report.html'])
        expect(existsSync(path.join(dir, 'reports', 'u1', phase, file)), `${phase}/${file}`).to.equal(true);
    expect(existsSync(path.join(dir, 'reports', 'u1', 'before', 'u1'))).to.equal(false);
    // Everything was removed and the cluster deleted.
    expect(api.list('v1', 'Namespace').map((n) => n.metadata.name)).not.to.include('tenant-acme');
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal([]);
  });

  it('a transient allow while istiod rolls out is a leak of the control-plane transition with its time, though every phase held; exit 1', async () => {
    rollout = { delayMs: 2500, leak: true };
    stopUpgrades = simulateUpgrades(['1.29.3', '1.30.4']);
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', ...mirrors],
      dir,
    );
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(1);
    const s = await summary();
    // No phase saw it: only the stream through the rollout did.
    expect(s.mustDenyFailures).to.deep.equal([]);
    expect(s.phases.map((p) => p.exitCode)).to.deep.equal([0, 0, 0]);
    expect(s.transitions.map((t) => [t.name, t.into, t.completed, t.barrier.status])).to.deep.equal([
      ['control-plane', 'mixed', true, 'passed'],
      ['restart', 'after', true, 'passed'],
    ]);
    const [cp, restart] = s.transitions;
    if (!cp || !restart || rollout.startedAt === undefined || rollout.endedAt === undefined)
      throw new Error('two transitions and a rollout window');
    expect(cp.method.ratePerSecond).to.equal(2);
    expect(cp.attempts.map((a) => [a.id, a.mustDeny])).to.deep.equal([
      ['globex-to-acme', true],
      ['acme-to-acme', false],
    ]);
    expect(cp.leakCount).to.be.at.least(2);
    expect(cp.leaks.length).to.equal(cp.leakCount);
    const start = Date.parse(cp.startedAt);
    for (const leak of cp.leaks) {
      const at = Date.parse(leak.at);
      expect([leak.attempt, leak.outcome]).to.deep.equal(['globex-to-acme', 'allowed']);
      expect(leak.pod).to.match(/^tenant-globex\/client/);
      // Inside the rollout window (its result came back at most a moment after it closed).
      expect(at).to.be.within(rollout.startedAt, rollout.endedAt + 1000);
      expect(leak.offsetMs).to.equal(at - start);
    }
    expect(restart.leakCount).to.equal(0);
    expect(r.stdout).to.match(
      /^TRANSITION control-plane \(istiod 1\.29\.3 → 1\.30\.4 \(in-place\), into mixed\): \d+ attempts from 2 sources over [\d.]+ s at 2\/s per source, 0 errors; barrier passed$/m,
    );
    const first = cp.leaks[0];
    expect(r.stdout).to.contain(
      `  LEAK globex-to-acme allowed at ${first?.at ?? ''} (+${((first?.offsetMs ?? 0) / 1000).toFixed(2)} s) from tenant-globex/client`,
    );
    const junit = await readFile(path.join(dir, 'reports', 'u1', 'upgrade-check.xml'), 'utf8');
    expect(junit).to.match(
      /<testcase name="control-plane: no must-deny attempt allowed while it ran \[mixed\]"[^>]*>[\s\S]*?<failure message="\d+ leaks during the control-plane transition: globex-to-acme allowed at \d{4}-\d\d-\d\dT/,
    );
    expect(junit).to.match(
      /<testcase name="restart: no must-deny attempt allowed while it ran \[after\]"[^>]*>(?:(?!<\/testcase>)[\s\S])*?<\/testcase>/,
    );
    expect(junit).not.to.match(/<testcase name="restart: [^"]*"[^>]*>(?:(?!<\/testcase>)[\s\S])*<failure/);
    // The mixed phase's own results and report carry the transition into it.
    const mixed = JSON.parse(
      await readFile(path.join(dir, 'reports', 'u1', 'mixed', 'results.json'), 'utf8'),
    ) as { transition?: { name: string; leakCount: number } };
    expect(mixed.transition).to.deep.include({ name: 'control-plane', leakCount: cp.leakCount });
    const html = await readFile(path.join(dir, 'reports', 'u1', 'mixed', 'report.html'), 'utf8');
    expect(html).to.contain('Transition into this phase: control-plane');
    expect(html).to.contain(`<td>${first?.at ?? ''}</td>`);
    expect(html).to.match(/<span class="t-leak"/);
    const before = JSON.parse(
      await readFile(path.join(dir, 'reports', 'u1', 'before', 'results.json'), 'utf8'),
    ) as { transition?: unknown };
    expect(before.transition).to.equal(undefined);
  });

  it('revision: installs 1.30.4 as revision 1-30-4 beside istiod, relabels the namespaces, and the restarted pods get the new revision; no change exits 0', async () => {
    stopUpgrades = simulateUpgrades(['1.29.3', '1.30.4']);
    const r = await runCli(
      [
        'upgrade-check',
        '-f',
        'scenario.yaml',
        '--from',
        '1.29.3',
        '--to',
        '1.30.4',
        '--method',
        'revision',
        ...mirrors,
      ],
      dir,
    );
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(0);
    const installs = istioctlLines(await readFile(path.join(dir, 'reports', 'u1', 'provision.log'), 'utf8'));
    expect(installs[1]).to.match(/^istioctl@1\.30\.4 install -y .* --revision 1-30-4$/);
    expect(r.stderr).to.contain(
      '$ kubectl label namespace tenant-acme istio-injection- istio.io/rev=1-30-4 --overwrite',
    );
    const s = await summary();
    expect(s.phases[1]?.observed.controlPlanes).to.deep.equal([
      { name: 'istiod', revision: 'default', version: '1.29.3' },
      { name: 'istiod-1-30-4', revision: '1-30-4', version: '1.30.4' },
    ]);
    const sidecars = (i: number) => [
      ...new Set(
        s.phases[i]?.observed.pods
          .filter((p) => p.proxy !== 'none')
          .map((p) => `${p.proxy} ${p.revision ?? ''}`),
      ),
    ];
    // Every second workload of each tenant moved: acme's client (acme: api, client), none of
    // globex's one. The mixed phase has sidecars on both control planes, and acme-to-acme goes
    // from the new one to the old one.
    expect(sidecars(1)).to.have.members(['1.29.3 default', '1.30.4 1-30-4']);
    const mixedPods = (s.phases[1]?.observed.pods ?? [])
      .filter((p) => p.proxy !== 'none')
      .map((p) => `${p.pod.split('/')[0] ?? ''}/${p.workload ?? ''} ${p.servedBy?.revision ?? 'nobody'}`)
      .sort();
    expect(mixedPods).to.deep.equal([
      'tenant-acme/api default',
      'tenant-acme/client 1-30-4',
      'tenant-acme/probe default',
      'tenant-globex/client default',
    ]);
    expect(s.phases[1]?.claim).to.deep.include({
      claim: 'mixed',
      verified: true,
      crossRevision: ['acme-to-acme'],
    });
    expect(s.phases[1]?.claim?.detail).to.equal(
      'sidecars on both control planes (3 served by 1.29.3 (default), 1 served by 1.30.4 (1-30-4)); 1 cross-revision attempt',
    );
    expect(sidecars(2)).to.deep.equal(['1.30.4 1-30-4']);
    expect(s.mustDenyFailures).to.deep.equal([]);
    expect(r.stdout).to.contain('no outcome changed across the 3 phases');
    expect(r.stdout).to.contain('every must-deny boundary held in every phase');
  });

  it('on kind, starts the internet stand-in as run does: egress attempts dial it in every phase, never a public address, and it goes with the cluster; the tester is recorded in every phase', async () => {
    stopUpgrades = simulateUpgrades(['1.29.3', '1.30.4']);
    await writeFile(
      path.join(dir, 'scenario.yaml'),
      `${SCENARIO}  generators:\n    - { kind: egress, from: [tenant-acme/probe-nosidecar] }\n`,
    );
    const tester = [
      '--tester',
      'Dana Auditor',
      '--organisation',
      'Example QSA Ltd',
      '--independence',
      'external',
    ];
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', ...tester, ...mirrors],
      dir,
    );
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(0);
    const calls = await stubs.calls();
    const started = calls.filter((c) => c[0] === 'docker' && c[1] === 'run');
    expect(started.map((c) => c[4])).to.deep.equal(['bulkhead-bulkhead-internet']);
    // The stub docker gives the container 172.18.0.9 on the kind network.
    const egress = 'egress:tenant-acme/probe-nosidecar->internet:80';
    for (const phase of ['before', 'mixed', 'after']) {
      const doc = JSON.parse(
        await readFile(path.join(dir, 'reports', 'u1', phase, 'results.json'), 'utf8'),
      ) as {
        attempts: { id: string; verdict: string }[];
        run: { tester?: unknown };
      };
      expect(doc.attempts.find((a) => a.id === egress)?.verdict, phase).to.equal('pass');
      expect(doc.run.tester, phase).to.deep.equal({
        name: 'Dana Auditor',
        organisation: 'Example QSA Ltd',
        independence: 'external',
      });
    }
    const ips = dialled.filter((h) => isIP(h) !== 0);
    expect(ips).to.include('172.18.0.9');
    expect(ips.filter((h) => h !== '172.18.0.9')).to.deep.equal([]);
    expect(await readdir(path.join(stubs.state, 'containers'))).to.deep.equal([]);
  });

  it("a sidecar that rejects the new istiod's push is a fault of the mixed phase, with the rejected type; exit 2", async () => {
    nackWhenMixed = true;
    stopUpgrades = simulateUpgrades(['1.29.3', '1.30.4']);
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', ...mirrors],
      dir,
    );
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(2);
    const s = await summary();
    expect(s.phases.map((p) => p.observed.rejections.length)).to.deep.equal([0, 4, 0]);
    expect(s.faults.map((f) => [f.phase, f.kind, f.type, f.pod])).to.deep.equal(
      (s.phases[1]?.observed.pods ?? [])
        .filter((p) => p.proxy !== 'none')
        .map((p) => ['mixed', 'config-rejected', 'LDS', p.pod]),
    );
    expect(s.faults[0]?.message).to.match(
      /^the sidecar of tenant-acme\/\S+ rejected the LDS push of istiod istio-system\/istiod-\S+ \(revision default\): Error adding\/updating listener/,
    );
    expect(r.stdout).to.match(/^FAULT the sidecar of tenant-acme\/\S+ rejected the LDS push/m);
    const junit = await readFile(path.join(dir, 'reports', 'u1', 'upgrade-check.xml'), 'utf8');
    expect(junit).to.match(
      /<testcase name="tenant-acme\/\S+ rejected LDS \[mixed\]"[^>]*>\s*<error message="the sidecar of/,
    );
  });

  it('--matrix runs each version on a fresh cluster and tabulates the outcomes side by side', async () => {
    stopUpgrades = simulateUpgrades(['1.29.3', '1.30.4']);
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--matrix', '1.29.3,1.30.4', ...mirrors],
      dir,
    );
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(0);
    const calls = (await stubs.calls()).map((c) => c.slice(0, 3).join(' '));
    expect(
      calls.filter((c) => c.startsWith('kind create cluster') || c.startsWith('kind delete cluster')),
    ).to.deep.equal([
      'kind create cluster',
      'kind delete cluster',
      'kind create cluster',
      'kind delete cluster',
    ]);
    expect(r.stdout).to.match(/^\s+ATTEMPT\s+EXPECT\s+ISTIO-1\.29\.3\s+ISTIO-1\.30\.4$/m);
    expect(r.stdout).to.match(/^\s+globex-to-acme\s+denied\s+refused \[pass\]\s+refused \[pass\]$/m);
    expect(r.stdout).to.match(/^istio-1\.30\.4\s+Istio 1\.30\.4\s+1\.30\.4\s+1\.30\.4 ×4, none ×1/m);
    const matrix = JSON.parse(await readFile(path.join(dir, 'reports', 'u1', 'matrix.json'), 'utf8')) as {
      kind: string;
      phases: { name: string }[];
    };
    expect(matrix.kind).to.equal('bulkhead-matrix');
    expect(matrix.phases.map((p) => p.name)).to.deep.equal(['istio-1.29.3', 'istio-1.30.4']);
  });

  it("Ctrl-C while the control plane is upgrading: exits 2, keeps the first phase's reports, removes what it created and deletes the cluster", async () => {
    // No upgrade is simulated: the check waits for istiod 1.30.4 until the interrupt.
    const listeners = process.listenerCount('SIGINT');
    // One Ctrl-C only: on a loaded machine several reads of the calls are pending at once, and a
    // second SIGINT is the "quit now" one, which would end the test runner itself with 130.
    let sent = false;
    const interrupt = setInterval(() => {
      void stubs.calls().then((calls) => {
        if (!sent && calls.filter((c) => c[0] === 'istioctl' && c[1] === 'install').length >= 2) {
          sent = true;
          clearInterval(interrupt);
          process.emit('SIGINT', 'SIGINT');
        }
      });
    }, 20);
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', ...mirrors],
      dir,
    );
    clearInterval(interrupt);
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(2);
    expect(r.stderr).to.contain('SIGINT: stopping, cleaning up and writing the results so far');
    expect(r.stdout).to.contain('interrupted: the phases after the interruption did not run');
    expect(r.stdout).to.match(/^before\s+Istio 1\.29\.3\s/m);
    const s = await summary();
    expect(s.phases.map((p) => p.name)).to.deep.equal(['before']);
    expect(existsSync(path.join(dir, 'reports', 'u1', 'before', 'results.json'))).to.equal(true);
    expect(existsSync(path.join(dir, 'reports', 'u1', 'mixed'))).to.equal(false);
    expect(api.list('v1', 'Namespace').map((n) => n.metadata.name)).not.to.include('tenant-acme');
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal([]);
    expect(process.listenerCount('SIGINT')).to.equal(listeners);
  });

  it('no Docker engine: refused before any download, any name lookup or any kind command', async () => {
    await writeFile(path.join(stubs.state, 'docker-down'), '');
    // The default release hosts (no mirror flags): a lookup of any name is recorded and refused
    // here, so even a regression never reaches the network.
    const looked: string[] = [];
    const lookup = dns.lookup;
    (dns as { lookup: unknown }).lookup = (host: string, ...rest: unknown[]) => {
      looked.push(host);
      const callback = rest.at(-1) as (error: Error) => void;
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    };
    try {
      const r = await runCli(
        ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', '--run-id', 'u1'],
        dir,
      );
      expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(2);
      expect(r.stderr).to.match(
        /^error: the Docker engine is not reachable \(Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\. Is the docker daemon running\?\); start Docker or point DOCKER_HOST at it, then retry\n$/m,
      );
    } finally {
      (dns as { lookup: unknown }).lookup = lookup;
    }
    expect(looked).to.deep.equal([]);
    expect((await stubs.calls()).map((c) => c.slice(0, 2).join(' '))).to.deep.equal(['docker info']);
    expect(releases.requests).to.deep.equal([]);
    expect(api.requests).to.deep.equal([]);
    expect(existsSync(path.join(dir, 'cache', 'bulkhead', 'istio'))).to.equal(false);
  });

  it('an istioctl --to that cannot be downloaded is refused before any cluster is made', async () => {
    const mirror = await releaseServer();
    await serveIstioctl(mirror, dir, '1.29.3');
    const args = [...mirrors];
    args[args.indexOf('--istio-base-url') + 1] = `${mirror.url}/istio`;
    try {
      const r = await runCli(
        ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', ...args],
        dir,
      );
      expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(2);
      expect(r.stderr).to.match(
        /^error: cannot download \S+\/istio\/1\.30\.4\/istioctl-1\.30\.4-linux-\w+\.tar\.gz: HTTP 404; check the version and the mirror URL\n$/m,
      );
      // This machine was checked first (Docker, then kind's version); no cluster was made.
      expect((await stubs.calls()).map((c) => c.slice(0, 2).join(' '))).to.deep.equal([
        'docker info',
        'kind version',
      ]);
      expect(api.requests).to.deep.equal([]);
    } finally {
      await mirror.close();
    }
  });

  it('an upgrade that never becomes ready says which step failed, exits 2 and still cleans up', async () => {
    // No upgrade is simulated: istiod never runs 1.30.4, and the wait gives up.
    const args = [...mirrors];
    args[args.indexOf('--provision-timeout') + 1] = '2';
    const r = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', '--from', '1.29.3', '--to', '1.30.4', ...args],
      dir,
    );
    expect(r.code, r.stdout + r.stderr.slice(-4000)).to.equal(2);
    expect(r.stderr).to.match(
      /^error: upgrading the control plane to Istio 1\.30\.4 failed: .*deployment istio-system\/istiod with Istio 1\.30\.4/m,
    );
    expect(r.stderr).to.match(/^the reports of the phases that ran are in \S+reports\/u1$/m);
    expect(r.stderr).not.to.contain('internal error');
    expect(existsSync(path.join(dir, 'reports', 'u1', 'before', 'results.json'))).to.equal(true);
    expect(api.list('v1', 'Namespace').map((n) => n.metadata.name)).not.to.include('tenant-acme');
    expect(await readdir(path.join(stubs.state, 'clusters'))).to.deep.equal([]);
  });

  it('refuses, before any command or download, a phase whose Istio does not support the Kubernetes, a downgrade, and mixed flags', async () => {
    const cases: [string[], string][] = [
      [
        ['--from', '1.29.3', '--to', '1.30.4', '--kubernetes', '1.36.1'],
        'error: Istio 1.29.3 does not support Kubernetes 1.36.1 (it supports 1.31–1.35); pick --kubernetes in that range or another --istio\n',
      ],
      [
        ['--from', '1.27.3', '--to', '1.30.4', '--kubernetes', '1.33'],
        'error: Istio tests upgrades across at most two minor versions; 1.27.3 → 1.30.4 is not one (upgrade through an intermediate release)\n',
      ],
      [
        ['--from', '1.30.4', '--to', '1.29.3'],
        'error: --to 1.29.3 is not newer than --from 1.30.4; an upgrade check goes from the running version to a newer one\n',
      ],
      [
        ['--matrix', '1.28.6,1.29.3,1.30.4'],
        'error: Istio 1.28.6 does not support Kubernetes 1.35.0 (it supports 1.30–1.34)',
      ],
      [
        ['--from', '1.29.3', '--to', '1.30.4', '--calico', 'v3.32.0'],
        'error: Calico v3.32.0 fails every server-side apply of a tiered policy with NotFound (projectcalico/calico#12841, fixed in v3.32.1); use --calico v3.32.1 or later\n',
      ],
      [
        ['--from', '1.29.3'],
        'error: give --from and --to (the Istio releases before and after), or --matrix\n',
      ],
      [
        ['--matrix', '1.29.3,1.30.4', '--from', '1.29.3'],
        'error: --matrix runs each version on its own cluster',
      ],
      [
        ['--from', '1.29.3', '--to', '1.30.4', '--istio', '1.29.3'],
        'error: upgrade-check takes --from and --to',
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['upgrade-check', '-f', 'scenario.yaml', ...args], dir);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.satisfy((e: string) => e.startsWith(message));
    }
    expect(await stubs.calls()).to.deep.equal([]);
    expect(releases.requests).to.deep.equal([]);
    expect(api.requests).to.deep.equal([]);
  });

  it('refuses ClusterNetworkPolicy on the Calico every phase would install, as run does, before any command or download (facts B4.1, B4.3)', async () => {
    const withBundle = (entry: string) =>
      SCENARIO.replace('  attempts:\n', `  policies:\n    - ${entry}\n  attempts:\n`);
    await writeFile(path.join(dir, 'bundle.yaml'), withBundle('builtin: hard-isolation'));
    await writeFile(
      path.join(dir, 'cnp.yaml'),
      withBundle('{ builtin: hard-isolation, clusterPolicy: cnp }'),
    );
    const sentence =
      'uses ClusterNetworkPolicy (ClusterNetworkPolicy tenant-isolation-acme, ClusterNetworkPolicy tenant-isolation-globex), which Calico enforces from v3.32.1 on (v3.32.0 added it and is refused for its server-side-apply bug); this run would install Calico v3.31.2: add --calico v3.32.1 (or --cluster-policy calico)';
    const upgrade = ['--from', '1.29.3', '--to', '1.30.4'];
    const option = await runCli(
      ['upgrade-check', '-f', 'bundle.yaml', ...upgrade, '--cluster-policy', 'cnp'],
      dir,
    );
    expect(option.code, option.stderr).to.equal(2);
    expect(option.stderr).to.match(
      new RegExp(`^error: \\S*bundle\\.yaml ${sentence.replace(/[()+.]/g, '\\$&')}\n$`),
    );
    const own = await runCli(['upgrade-check', '-f', 'cnp.yaml', ...upgrade], dir);
    expect(own.code, own.stderr).to.equal(2);
    expect(own.stderr).to.contain(sentence);
    // --matrix runs on the same Calico: refused the same way.
    const matrix = await runCli(['upgrade-check', '-f', 'cnp.yaml', '--matrix', '1.29.3,1.30.4'], dir);
    expect(matrix.code, matrix.stderr).to.equal(2);
    expect(matrix.stderr).to.contain(sentence);
    // --cluster-policy on a scenario without the bundle would change nothing: refused too.
    const nothing = await runCli(
      ['upgrade-check', '-f', 'scenario.yaml', ...upgrade, '--cluster-policy', 'cnp'],
      dir,
    );
    expect(nothing.code).to.equal(2);
    expect(nothing.stderr).to.contain('does not use builtin: hard-isolation');
    expect(await stubs.calls()).to.deep.equal([]);
    expect(releases.requests).to.deep.equal([]);
    expect(api.requests).to.deep.equal([]);
  });
});
