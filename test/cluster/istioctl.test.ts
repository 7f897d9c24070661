import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';
import { execa } from 'execa';
import { c as tarCreate } from 'tar';

import { cacheRoot, parseChecksum } from '../../harness/cluster/download.js';
import { ensureIstioctl, istioctlUrl } from '../../harness/cluster/istioctl.js';
import { UserError } from '../../harness/errors.js';
import { istioctlRelease, releaseServer, serveIstioctl, type ReleaseServer } from './support.js';

describe('cluster: istioctl download, SHA-256 check and cache (local release server)', () => {
  let dir: string;
  let releases: ReleaseServer;
  let log: string[];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-istioctl-'));
    releases = await releaseServer();
    log = [];
  });
  afterEach(async () => {
    await releases.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads and verifies once, unpacks a runnable istioctl, then reuses the cache without a request', async () => {
    const baseUrl = await serveIstioctl(releases, dir, '1.29.3');
    const cache = path.join(dir, 'cache');
    const first = await ensureIstioctl({
      version: '1.29.3',
      arch: 'amd64',
      cache,
      baseUrl,
      log: (l) => log.push(l),
    });
    expect(first.cached).to.equal(false);
    expect(first.path).to.equal(path.join(cache, 'istio', '1.29.3-amd64', 'istioctl'));
    expect(releases.requests).to.deep.equal([
      '/istio/1.29.3/istioctl-1.29.3-linux-amd64.tar.gz',
      '/istio/1.29.3/istioctl-1.29.3-linux-amd64.tar.gz.sha256',
    ]);
    const served = await readFile(path.join(dir, 'istioctl-1.29.3-linux-amd64.tar.gz'));
    expect(first.archiveSha256).to.equal(createHash('sha256').update(served).digest('hex'));
    const version = await execa(first.path, ['version', '--remote=false', '--short'], {
      env: { STUB_STATE: dir },
    });
    expect(version.stdout).to.equal('client version: 1.29.3');
    expect(log).to.include(
      `$ curl -fsSLo istioctl-1.29.3-linux-amd64.tar.gz ${baseUrl}/1.29.3/istioctl-1.29.3-linux-amd64.tar.gz`,
    );
    expect(log).to.include(
      `$ sha256sum istioctl-1.29.3-linux-amd64.tar.gz  # must be ${first.archiveSha256}`,
    );

    const second = await ensureIstioctl({
      version: '1.29.3',
      arch: 'amd64',
      cache,
      baseUrl,
      log: (l) => log.push(l),
    });
    expect(second).to.deep.equal({ ...first, cached: true });
    expect(releases.requests).to.have.length(2);
    expect(await readdir(path.join(cache, 'istio'))).to.deep.equal(['1.29.3-amd64']);
  });

  it('refuses an archive whose SHA-256 does not match the published one, caching nothing', async () => {
    const baseUrl = await serveIstioctl(releases, dir, '1.29.3');
    releases.set(
      '/istio/1.29.3/istioctl-1.29.3-linux-amd64.tar.gz.sha256',
      `${'0'.repeat(64)}  istioctl-1.29.3-linux-amd64.tar.gz\n`,
    );
    const cache = path.join(dir, 'cache');
    let error: unknown;
    try {
      await ensureIstioctl({ version: '1.29.3', arch: 'amd64', cache, baseUrl, log: (l) => log.push(l) });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.match(
      /^istioctl-1\.29\.3-linux-amd64\.tar\.gz from http:\/\/127\.0\.0\.1:\d+\/istio\/1\.29\.3\/istioctl-1\.29\.3-linux-amd64\.tar\.gz has SHA-256 [0-9a-f]{64} but the release publishes 0{64}; nothing was cached, retry or check the mirror \(--istio-base-url\)$/,
    );
    expect(existsSync(path.join(cache, 'istio'))).to.equal(false);
  });

  it('says which URL is missing (unknown version) and refuses an archive without istioctl', async () => {
    const cache = path.join(dir, 'cache');
    const missing = await ensureIstioctl({
      version: '1.29.99',
      arch: 'amd64',
      cache,
      baseUrl: `${releases.url}/istio`,
      log: () => undefined,
    }).catch((e: unknown) => e);
    expect((missing as Error).message).to.equal(
      `cannot download ${releases.url}/istio/1.29.99/istioctl-1.29.99-linux-amd64.tar.gz: HTTP 404; check the version and the mirror URL`,
    );
    // A checksum that matches but an archive that holds something else.
    const other = await istioctlRelease(dir, '1.29.4');
    const bogus = path.join(dir, 'bogus.tar.gz');
    await tarCreate({ gzip: true, file: bogus, cwd: dir, portable: true }, [
      `istioctl-1.29.4-linux-amd64.tar.gz`,
    ]);
    const bytes = await readFile(bogus);
    releases.set('/istio/1.29.4/istioctl-1.29.4-linux-amd64.tar.gz', bytes);
    releases.set(
      '/istio/1.29.4/istioctl-1.29.4-linux-amd64.tar.gz.sha256',
      createHash('sha256').update(bytes).digest('hex'),
    );
    expect(other.name).to.equal('istioctl-1.29.4-linux-amd64.tar.gz');
    const empty = await ensureIstioctl({
      version: '1.29.4',
      arch: 'amd64',
      cache,
      baseUrl: `${releases.url}/istio`,
      log: () => undefined,
    }).catch((e: unknown) => e);
    expect((empty as Error).message).to.match(
      /holds no istioctl binary; check the version and the mirror URL$/,
    );
    expect(await readdir(path.join(cache, 'istio'))).to.deep.equal([]);
  });

  it('release URL pattern, checksum file formats and the cache folder', () => {
    expect(istioctlUrl('1.29.3', 'arm64')).to.equal(
      'https://github.com/istio/istio/releases/download/1.29.3/istioctl-1.29.3-linux-arm64.tar.gz',
    );
    const hex = 'AB'.repeat(32);
    expect(parseChecksum(`${hex}  istioctl-1.29.3-linux-amd64.tar.gz\n`)).to.equal(hex.toLowerCase());
    expect(parseChecksum(hex)).to.equal(hex.toLowerCase());
    expect(parseChecksum('<html>Not Found</html>')).to.equal(undefined);
    expect(cacheRoot({ XDG_CACHE_HOME: '/x/cache' })).to.equal('/x/cache/bulkhead');
    expect(cacheRoot({ HOME: '/home/u' })).to.match(/\/\.cache\/bulkhead$/);
  });
});
