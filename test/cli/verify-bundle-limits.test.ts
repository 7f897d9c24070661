/**
 * verify-bundle reads what it is given within stated bounds (README "Input limits"): the archive
 * size, what it decompresses to in total, each entry and the number of entries; hashes stream, and
 * reading stops at the archive's end marker. Past a bound: exit 2 with a sentence. A bundle that
 * does not match its manifest is still exit 1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { expect } from 'chai';
import { Header } from 'tar';

import { BUNDLE_LIMITS, BundleTooLarge, verifyBundle, writeBundle } from '../../harness/report/bundle.js';
import { runBin } from '../support/cli.js';

describe('verify-bundle limits', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-bundle-limits-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stops at the end of the archive: a gzip of zeros is read in seconds, not decompressed to the end', async () => {
    // 160 gzip members of 64 MiB of zeros each: 10 GiB once decompressed, 10 MB on disk.
    const member = gzipSync(Buffer.alloc(64 * 2 ** 20), { level: 9 });
    const bomb = path.join(dir, 'zeros.tar.gz');
    await writeFile(bomb, Buffer.concat(Array<Buffer>(160).fill(member)));
    const rss = process.memoryUsage.rss();
    const started = performance.now();
    const result = await verifyBundle(bomb);
    expect(performance.now() - started).to.be.below(15_000);
    expect(process.memoryUsage.rss() - rss).to.be.below(300 * 2 ** 20);
    expect(result.problems).to.deep.equal(['no SHA256SUMS in the bundle']);
  });

  it('refuses entries too large, too many entries and too much in total, before reading them all', async () => {
    const header = (name: string, size: number) => {
      const block = Buffer.alloc(512);
      new Header({ path: name, mode: 0o644, size, type: 'File', mtime: new Date(0) }).encode(block, 0);
      return block;
    };
    const tar = (entries: [string, number][]) =>
      Buffer.concat([
        ...entries.flatMap(([name, size]) => [header(name, size), Buffer.alloc(Math.ceil(size / 512) * 512)]),
        Buffer.alloc(1024),
      ]);
    const file = path.join(dir, 'b.tar.gz');
    // The header alone says how large an entry is: refused before its data is read.
    await writeFile(
      file,
      Buffer.concat([gzipSync(header('r/big', 10 * 2 ** 30)), gzipSync(Buffer.alloc(2 ** 20))]),
    );
    const big = await verifyBundle(file).catch((e: unknown) => e);
    expect(big).to.be.instanceOf(BundleTooLarge);
    expect((big as Error).message).to.equal(
      'r/big in the bundle is 10240 MiB; verify-bundle reads entries of at most 256 MiB',
    );

    const small = { ...BUNDLE_LIMITS, entries: 5, totalBytes: 64 * 1024, entryBytes: 32 * 1024 };
    await writeFile(file, gzipSync(tar(Array.from({ length: 8 }, (_, i) => [`r/f${i}`, 10]))));
    expect(((await verifyBundle(file, small).catch((e: unknown) => e)) as Error).message).to.equal(
      'the bundle holds more than 5 entries; verify-bundle reads at most that many',
    );
    await writeFile(file, gzipSync(tar(Array.from({ length: 4 }, (_, i) => [`r/f${i}`, 30 * 1024]))));
    expect(((await verifyBundle(file, small).catch((e: unknown) => e)) as Error).message).to.equal(
      'the bundle decompresses to more than 0.1 MiB; verify-bundle reads at most that much',
    );
    // Within the limits the same archive is read and judged.
    const judged = await verifyBundle(file, { ...small, totalBytes: 1024 * 1024 });
    expect(judged.problems).to.deep.equal(['no SHA256SUMS in the bundle']);
  });

  it('verifies a real bundle as before, and exits 2 with a sentence for one past the limits', async () => {
    const good = path.join(dir, 'good.tar.gz');
    await writeBundle({
      file: good,
      root: 'bulkhead-r1',
      files: [{ name: 'results.json', content: '{}' }],
    });
    expect((await verifyBundle(good)).ok).to.equal(true);
    const bad = path.join(dir, 'huge-entry.tar.gz');
    const block = Buffer.alloc(512);
    new Header({ path: 'r/big', mode: 0o644, size: 2 ** 33, type: 'File', mtime: new Date(0) }).encode(
      block,
      0,
    );
    await writeFile(bad, gzipSync(Buffer.concat([block, Buffer.alloc(4096)])));
    const r = await runBin(['verify-bundle', bad]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.equal(
      'error: r/big in the bundle is 8192 MiB; verify-bundle reads entries of at most 256 MiB\n',
    );
  });
});
