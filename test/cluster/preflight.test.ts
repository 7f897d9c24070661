import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { checkInotify, checkPortFree } from '../../harness/cluster/preflight.js';
import { UserError } from '../../harness/errors.js';
import { runCli } from '../support/cli.js';

describe('cluster: preflight checks', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-preflight-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a port something listens on is refused with the fix; a free one passes', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const error = await checkPortFree(port).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.equal(
      `port ${String(port)} on 127.0.0.1 is in use (EADDRINUSE); free it or pass another --api-server-port`,
    );
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    await checkPortFree(port);
  });

  it('inotify: limits at kind’s recommendation pass; unreadable limits (not Linux) are not checked', async () => {
    await mkdir(path.join(dir, 'ok'));
    await writeFile(path.join(dir, 'ok', 'max_user_watches'), '1048576\n');
    await writeFile(path.join(dir, 'ok', 'max_user_instances'), '512\n');
    await checkInotify(path.join(dir, 'ok'));
    await checkInotify(path.join(dir, 'absent'));
    await mkdir(path.join(dir, 'low'));
    await writeFile(path.join(dir, 'low', 'max_user_watches'), '8192\n');
    const error = await checkInotify(path.join(dir, 'low')).catch((e: unknown) => e);
    expect((error as Error).message).to.equal(
      'fs.inotify.max_user_watches is 8192, below the 524288 kind needs; run `sudo sysctl fs.inotify.max_user_watches=524288` and retry',
    );
  });

  it('down without kind on PATH or in the cache says how to fix it', async () => {
    const saved = { PATH: process.env.PATH, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
    process.env.PATH = path.join(dir, 'empty-bin');
    process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
    try {
      const r = await runCli(['down'], dir);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.equal(
        '$ kind version\nerror: kind is not installed (nor cached by bulkhead); install kind to delete kind clusters\n',
      );
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.XDG_CACHE_HOME === undefined) Reflect.deleteProperty(process.env, 'XDG_CACHE_HOME');
      else process.env.XDG_CACHE_HOME = saved.XDG_CACHE_HOME;
    }
  });
});
