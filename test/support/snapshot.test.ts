/**
 * The snapshot helper: a changed output fails naming the file, the changed lines and the update
 * command; a missing snapshot fails in CI and is written elsewhere; updating writes it, except in
 * CI; and every test using the helper is one the update script runs.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { repoRoot } from './scenarios.js';
import { diff, matchSnapshot, snapshotMode, UPDATE_COMMAND, type SnapshotMode } from './snapshot.js';

const LOCAL: SnapshotMode = { update: false, ci: false };
const CI: SnapshotMode = { update: false, ci: true };

/** The message a promise fails with, or undefined when it does not fail. */
async function failure(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('test support: snapshots', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-snapshot-'));
    file = path.join(dir, 'out.yaml');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes on the committed text and fails on a changed line, naming file, lines and command', async () => {
    await writeFile(file, 'a: 1\nb: 2\nc: 3\n');
    expect(await failure(matchSnapshot('a: 1\nb: 2\nc: 3\n', file, LOCAL))).to.equal(undefined);
    expect(await failure(matchSnapshot('a: 1\nb: 2\nc: 3\n', file, CI))).to.equal(undefined);
    const message = await failure(matchSnapshot('a: 1\nb: 20\nc: 3\n', file, CI));
    expect(message).to.equal(
      `snapshot ${file} differs from the output (- snapshot, + output):\n` +
        '@@ -1 +1 @@\n  a: 1\n- b: 2\n+ b: 20\n  c: 3\n' +
        `If the change is intended, run ${UPDATE_COMMAND}, review the diff and commit the snapshot.`,
    );
    // A failure leaves the snapshot as it was.
    expect(await readFile(file, 'utf8')).to.equal('a: 1\nb: 2\nc: 3\n');
  });

  it('names a snapshot in the repository by its path from the repository root', async () => {
    const inRepo = path.join(repoRoot, 'test/policies/snapshots/hard-isolation.two-tenants.yaml');
    const message = await failure(matchSnapshot('changed\n', inRepo, CI));
    expect(message).to.match(
      /^snapshot test\/policies\/snapshots\/hard-isolation\.two-tenants\.yaml differs/,
    );
  });

  it('fails in CI on a missing snapshot without writing it; writes it on a developer machine', async () => {
    const message = await failure(matchSnapshot('new\n', file, CI));
    expect(message).to.equal(
      `snapshot ${file} does not exist; create it with ${UPDATE_COMMAND}, review it and commit it`,
    );
    expect(existsSync(file)).to.equal(false);
    const warn = console.warn;
    const warned: unknown[] = [];
    console.warn = (...args: unknown[]) => warned.push(...args);
    try {
      expect(await failure(matchSnapshot('new\n', path.join(dir, 'sub', 'new.yaml'), LOCAL))).to.equal(
        undefined,
      );
    } finally {
      console.warn = warn;
    }
    expect(await readFile(path.join(dir, 'sub', 'new.yaml'), 'utf8')).to.equal('new\n');
    expect(warned.join(' ')).to.contain('did not exist and was written');
  });

  it('rewrites the snapshot in update mode, and refuses to in CI', async () => {
    await writeFile(file, 'old\n');
    expect(await failure(matchSnapshot('new\n', file, { update: true, ci: false }))).to.equal(undefined);
    expect(await readFile(file, 'utf8')).to.equal('new\n');
    expect(await failure(matchSnapshot('newer\n', file, { update: true, ci: true }))).to.contain(
      'BULKHEAD_UPDATE_SNAPSHOTS=1 in CI',
    );
    expect(await readFile(file, 'utf8')).to.equal('new\n');
  });

  it('reads the mode from BULKHEAD_UPDATE_SNAPSHOTS and CI', () => {
    expect(snapshotMode({})).to.deep.equal({ update: false, ci: false });
    expect(snapshotMode({ BULKHEAD_UPDATE_SNAPSHOTS: '1', CI: 'true' })).to.deep.equal({
      update: true,
      ci: true,
    });
    expect(snapshotMode({ BULKHEAD_UPDATE_SNAPSHOTS: '0', CI: 'false' })).to.deep.equal({
      update: false,
      ci: false,
    });
    expect(snapshotMode({ CI: '1' }).ci).to.equal(true);
  });

  it('diffs in hunks with context, lines numbered as in the snapshot and the output', () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
    const after = [...before];
    after.splice(1, 1, 'line two');
    after.splice(15, 0, 'inserted');
    expect(diff(before.join('\n'), after.join('\n'))).to.equal(
      [
        '@@ -1 +1 @@',
        '  line 1',
        '- line 2',
        '+ line two',
        '  line 3',
        '  line 4',
        '  line 5',
        '@@ -13 +13 @@',
        '  line 13',
        '  line 14',
        '  line 15',
        '+ inserted',
        '  line 16',
        '  line 17',
        '  line 18',
      ].join('\n'),
    );
    expect(diff('a\n', 'a')).to.contain('only the final newline');
  });

  it('is used only by test files that the update script runs', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const script = pkg.scripts['test:update-snapshots'] ?? '';
    expect(script).to.match(/^BULKHEAD_UPDATE_SNAPSHOTS=1 /);
    const users: string[] = [];
    for (const entry of await readdir(path.join(repoRoot, 'test'), { recursive: true })) {
      if (!entry.endsWith('.test.ts')) continue;
      const text = await readFile(path.join(repoRoot, 'test', entry), 'utf8');
      if (/from '(\.\.\/support|\.)\/snapshot\.js'/.test(text) && !entry.startsWith('support')) {
        users.push(`test/${entry.split(path.sep).join('/')}`);
      }
    }
    expect(users).to.include.members(['test/policies/render.test.ts', 'test/run/fixtures.test.ts']);
    for (const user of users) expect(script.split(' '), user).to.include(user);
  });
});
