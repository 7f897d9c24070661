/**
 * istiod's /debug/syncz, read as bulkhead reads it: the answer's shape (istio@1.30.3
 * `pilot/pkg/xds/debug.go:126-150`), the states of `istioctl proxy-status`, the "synced after T0"
 * rule of the mesh barrier, NACKs, and the exec into istiod through the fake API server.
 */
import { spawn } from 'node:child_process';

import type { V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  nonceOfVersion,
  parsePushedConfig,
  rbacPolicyName,
  istiodPods,
  isSyncedAfter,
  IstiodReadError,
  parseSyncz,
  podRevision,
  proxyIdOf,
  readSyncz,
  rejections,
  typeState,
  XDS_TYPES,
  type IstiodPod,
} from '../../harness/cluster/istiod-sync.js';
import { KubeClient } from '../../harness/kube/client.js';
import { FakeApiServer } from '../support/fake-apiserver/server.js';
import { putIstiod } from '../support/existing-cluster.js';
import { FakeIstiod } from '../support/istiod.js';

const ISTIOD: IstiodPod = { name: 'istiod-abc', namespace: 'istio-system', revision: 'default', ready: true };
const T0 = Date.parse('2026-12-02T04:00:00.000Z');

/** One 1.30-shaped entry: legacy nonce pairs and `resources`, plus a field bulkhead does not read. */
function entry(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cluster_id: 'Kubernetes',
    proxy: 'api-5d9c-abcde.tenant-acme',
    proxy_type: 'sidecar',
    istio_version: '1.30.3',
    cluster_sent: '2026-12-02T03:59:58Z/7a',
    cluster_acked: '2026-12-02T03:59:58Z/7a',
    listener_sent: '2026-12-02T04:00:01Z/9b',
    listener_acked: '2026-12-02T04:00:01Z/9b',
    resources: {
      [XDS_TYPES.CDS]: {
        sent: '2026-12-02T03:59:58Z/7a',
        acked: '2026-12-02T03:59:58Z/7a',
        sentTime: '2026-12-02T03:59:58.250000000Z',
      },
      [XDS_TYPES.LDS]: {
        sent: '2026-12-02T04:00:01Z/9b',
        acked: '2026-12-02T04:00:01Z/9b',
        sentTime: '2026-12-02T04:00:01.123456789Z',
      },
      [XDS_TYPES.RDS]: { sentTime: '0001-01-01T00:00:00Z' },
    },
    a_future_field: [1, 2],
    ...overrides,
  };
}

/** The istiod pods, once the fake's deployment controller has made them. */
async function waitForIstiod(client: KubeClient): Promise<IstiodPod[]> {
  for (let i = 0; i < 100; i++) {
    const pods = await istiodPods(client);
    if (pods.some((p) => p.ready)) return pods;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no istiod pod');
}

const parse = (entries: unknown) => parseSyncz(JSON.stringify(entries), ISTIOD);

describe('istiod sync status (/debug/syncz)', () => {
  it('reads a proxy: id, pod, namespace, type, version, per type sent/acked/sentTime, and who answered', () => {
    const [p] = parse([entry()]);
    expect(p?.proxyId).to.equal('api-5d9c-abcde.tenant-acme');
    expect(p?.pod).to.equal('api-5d9c-abcde');
    expect(p?.namespace).to.equal('tenant-acme');
    expect(p?.proxyType).to.equal('sidecar');
    expect(p?.istioVersion).to.equal('1.30.3');
    expect(p?.clusterId).to.equal('Kubernetes');
    expect(p?.istiod).to.equal(ISTIOD);
    expect(p?.types.get('LDS')).to.deep.include({
      typeUrl: XDS_TYPES.LDS,
      sent: '2026-12-02T04:00:01Z/9b',
      acked: '2026-12-02T04:00:01Z/9b',
      sentTime: Date.parse('2026-12-02T04:00:01.123Z'),
      pushedAt: Date.parse('2026-12-02T04:00:01Z'),
    });
    // Go writes a zero time.Time: nothing was sent.
    expect(p?.types.get('RDS')?.sentTime).to.equal(undefined);
    expect(typeState(p?.types.get('RDS'))).to.equal('NOT SENT');
    expect(typeState(p?.types.get('EDS'))).to.equal('IGNORED');
  });

  it('reads istiod < 1.23, which has only the nonce pairs, with the push version as the time', () => {
    const [p] = parse([
      entry({
        resources: undefined,
        listener_sent: '2026-12-02T04:00:02Z/12ff',
        listener_acked: '2026-12-02T04:00:01Z/9b',
      }),
    ]);
    const lds = p?.types.get('LDS');
    expect(lds).to.deep.include({ sent: '2026-12-02T04:00:02Z/12ff', acked: '2026-12-02T04:00:01Z/9b' });
    expect(lds?.sentTime).to.equal(undefined);
    expect(lds?.pushedAt).to.equal(Date.parse('2026-12-02T04:00:02Z'));
    expect(typeState(lds)).to.equal('STALE');
    expect(typeState(p?.types.get('CDS'))).to.equal('SYNCED');
  });

  it('is strict on the fields it reads, naming the field', () => {
    const fail = (entries: unknown, pattern: RegExp) => {
      expect(() => parse(entries)).to.throw(IstiodReadError, pattern);
    };
    fail(
      [entry({ resources: { [XDS_TYPES.LDS]: { sentTime: 'yesterday' } } })],
      new RegExp(
        `\\[0\\]\\.resources\\.${XDS_TYPES.LDS.replace(/\./g, '\\.')}\\.sentTime: not an RFC 3339 time`,
      ),
    );
    fail(
      [entry({ proxy: undefined })],
      /istiod istio-system\/istiod-abc answered \/debug\/syncz with something that is not its sync status: \[0\]\.proxy: /,
    );
    fail({ proxies: [] }, /not its sync status: the answer: /);
    fail([entry({ listener_sent: 7 })], /\[0\]\.listener_sent: /);
    expect(() => parseSyncz('upstream connect error', ISTIOD)).to.throw(
      IstiodReadError,
      /not JSON: "upstream connect error"/,
    );
  });

  it('calls a proxy synced after T0 only when every type asked was sent after T0, acked, and not rejected', () => {
    const sent = (sentTime: string, acked = 'n2', lastError?: string) =>
      parse([
        entry({
          resources: {
            [XDS_TYPES.LDS]: { sent: 'n2', acked, sentTime, ...(lastError ? { lastError } : {}) },
            [XDS_TYPES.CDS]: { sent: 'n1', acked: 'n1', sentTime: '2026-12-02T03:00:00Z' },
          },
        }),
      ])[0]!;
    expect(isSyncedAfter(sent('2026-12-02T04:00:00.500Z'), ['LDS'], T0)).to.equal(true);
    expect(isSyncedAfter(sent('2026-12-02T03:59:59.900Z'), ['LDS'], T0), 'sent before T0').to.equal(false);
    expect(isSyncedAfter(sent('2026-12-02T04:00:00.500Z', 'n1'), ['LDS'], T0), 'not acked yet').to.equal(
      false,
    );
    expect(
      isSyncedAfter(sent('2026-12-02T04:00:00.500Z'), ['LDS', 'CDS'], T0),
      'CDS not pushed since',
    ).to.equal(false);
    expect(isSyncedAfter(sent('2026-12-02T04:00:00.500Z'), ['LDS', 'RDS'], T0), 'RDS not watched').to.equal(
      false,
    );
    const nacked = sent(
      '2026-12-02T04:00:00.500Z',
      'n1',
      'Error adding/updating listener(s) virtualInbound: bad filter',
    );
    expect(isSyncedAfter(nacked, ['LDS'], T0)).to.equal(false);
    expect(typeState(nacked.types.get('LDS'))).to.equal('ERROR');
    expect(rejections(nacked)).to.deep.equal([
      { type: 'LDS', message: 'Error adding/updating listener(s) virtualInbound: bad filter' },
    ]);
    expect(rejections(sent('2026-12-02T04:00:00.500Z'))).to.deep.equal([]);
    // Legacy: the push version's whole second must be after T0.
    const legacy = (nonce: string) =>
      parse([entry({ resources: undefined, listener_sent: nonce, listener_acked: nonce })])[0]!;
    expect(isSyncedAfter(legacy('2026-12-02T04:00:01Z/3abc'), ['LDS'], T0 + 999)).to.equal(true);
    expect(
      isSyncedAfter(legacy('2026-12-02T04:00:00Z/3abc'), ['LDS'], T0 + 1),
      'same second: unknown',
    ).to.equal(false);
  });

  it("names a sidecar's proxy and the revision that injected it", () => {
    expect(proxyIdOf({ namespace: 'tenant-acme', name: 'api-1' })).to.equal('api-1.tenant-acme');
    const pod = (annotations: Record<string, string>): V1Pod => ({ metadata: { annotations } });
    expect(podRevision(pod({ 'istio.io/rev': '1-30-3' }))).to.equal('1-30-3');
    expect(podRevision(pod({ 'sidecar.istio.io/status': '{"revision":"canary"}' }))).to.equal('canary');
    expect(podRevision(pod({ 'sidecar.istio.io/status': 'not json' }))).to.equal('default');
    expect(podRevision(pod({}))).to.equal('default');
  });

  describe('through the API server', function () {
    this.timeout(30_000);
    let server: FakeApiServer | undefined;
    let istiod: FakeIstiod | undefined;
    afterEach(async () => {
      istiod?.stop();
      await server?.stop();
      server = undefined;
    });

    it('finds the istiod pods with revision and version, and reads each by exec', async () => {
      const late: { istiod?: FakeIstiod } = {};
      server = await new FakeApiServer({
        exec: (request) =>
          late.istiod?.exec(request) ?? spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'pipe' }),
      }).start();
      istiod = late.istiod = new FakeIstiod(server);
      putIstiod(server, '1.30.3');
      server.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tenant-acme' } });
      server.put({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'api-1', namespace: 'tenant-acme' },
        spec: { containers: [{ name: 'app' }, { name: 'istio-proxy' }] },
      });
      const pods = await waitForIstiod(new KubeClient({ kubeConfig: server.kubeConfig() }));
      expect(pods).to.have.length(1);
      expect(pods[0]).to.deep.include({ namespace: 'istio-system', revision: 'default', version: '1.30.3' });
      expect(pods[0]?.name).to.match(/^istiod-/);
      const proxies = await readSyncz(server.kubeConfig(), pods[0]!);
      expect(proxies.map((p) => p.proxyId)).to.deep.equal(['api-1.tenant-acme']);
      expect(proxies[0]?.istiod).to.deep.equal(pods[0]);
      expect(typeState(proxies[0]?.types.get('LDS'))).to.equal('SYNCED');
      // The exec went where istiod's debug port answers without authentication: its own loopback.
      expect(istiod.reads[0]).to.deep.include({
        namespace: 'istio-system',
        pod: pods[0]!.name,
        container: 'discovery',
      });
    });

    it('says what to check when the exec fails', async () => {
      server = await new FakeApiServer({
        exec: () =>
          spawn(process.execPath, ['-e', 'process.stderr.write("no such file"); process.exit(1)'], {
            stdio: 'pipe',
          }),
      }).start();
      putIstiod(server);
      const [pod] = await waitForIstiod(new KubeClient({ kubeConfig: server.kubeConfig() }));
      const error = await readSyncz(server.kubeConfig(), pod!).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(IstiodReadError);
      expect((error as IstiodReadError).message, (error as Error).message).to.match(
        /^istiod istio-system\/istiod-\S+ could not be asked for \/debug\/syncz: .*exit code 1: no such file/,
      );
      expect((error as IstiodReadError).hint).to.contain('pods/exec in istio-system');
    });
  });
});

describe("istiod's config for one proxy (/debug/config_dump?proxyID=)", () => {
  const version = '2026-12-02T20:00:00Z/12';
  const uuid = '3f2b6c1e-8d4a-4c2e-9b7f-0a1b2c3d4e5f';

  it('ties a nonce to its push version exactly: the counter is not a prefix match', () => {
    expect(nonceOfVersion(`${version}${uuid}`, version)).to.equal(true);
    // Version …/1 is not the push of nonce …/12<uuid>, though the text starts the same.
    expect(nonceOfVersion(`${version}${uuid}`, '2026-12-02T20:00:00Z/1')).to.equal(false);
    expect(nonceOfVersion(`${version}${uuid}`, '')).to.equal(false);
  });

  it('reads the listeners version and text, in jsonpb names or the original ones', () => {
    const listeners = [
      { name: 'virtualInbound', activeState: { listener: { n: 'ns[a]-policy[p]-rule[0]' } } },
    ];
    const dump = (section: Record<string, unknown>) =>
      JSON.stringify({
        configs: [
          { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', versionInfo: 'other' },
          { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', ...section },
        ],
      });
    const camel = parsePushedConfig(
      dump({ versionInfo: version, dynamicListeners: listeners }),
      ISTIOD,
      'p.a',
    );
    expect(camel.version).to.equal(version);
    expect(camel.listeners).to.contain(rbacPolicyName('a', 'p'));
    const snake = parsePushedConfig(
      dump({ version_info: version, dynamic_listeners: listeners }),
      ISTIOD,
      'p.a',
    );
    expect(snake).to.deep.equal(camel);
    expect(() => parsePushedConfig(dump({ dynamicListeners: listeners }), ISTIOD, 'p.a')).to.throw(
      IstiodReadError,
      'istiod istio-system/istiod-abc answered the config dump of p.a without a listeners section and its version',
    );
    expect(() => parsePushedConfig('Proxy not connected', ISTIOD, 'p.a')).to.throw(
      IstiodReadError,
      'not JSON',
    );
  });
});
