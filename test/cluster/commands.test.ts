import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { CommandError, CommandRunner, shellLine } from '../../harness/cluster/commands.js';

describe('cluster: the command seam (execa, array arguments, shell-line log)', () => {
  let dir: string;
  let log: string[];
  let runner: CommandRunner;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-commands-'));
    await writeFile(
      path.join(dir, 'tool'),
      `#!/bin/bash\nfor a in "$@"; do echo "arg:$a"; done\necho "to stderr" >&2\nexit "\${TOOL_EXIT:-0}"\n`,
    );
    await chmod(path.join(dir, 'tool'), 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    log = [];
    runner = new CommandRunner({ log: (l) => log.push(l), env: { PATH: `${dir}:/usr/bin:/bin` } });
  });

  it('passes arguments as they are (no shell) and logs a line that pastes into a shell', async () => {
    const r = await runner.run('tool', ['a b', "it's", '$HOME', '--set', 'x=1']);
    expect(r.stdout).to.equal("arg:a b\narg:it's\narg:$HOME\narg:--set\narg:x=1");
    expect(r.stderr).to.equal('to stderr');
    expect(log).to.deep.equal([`$ tool 'a b' 'it'\\''s' '$HOME' --set x=1`]);
    expect(shellLine(['kind', 'create', 'cluster', '--name', ''])).to.equal("kind create cluster --name ''");
  });

  it('a non-zero exit is a CommandError carrying what the tool printed; try() returns it instead', async () => {
    const failing = new CommandRunner({
      log: () => undefined,
      env: { PATH: `${dir}:/usr/bin:/bin`, TOOL_EXIT: '3' },
    });
    const error = await failing.run('tool', ['x']).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(CommandError);
    expect((error as CommandError).message).to.equal('`tool x` failed: exit code 3\nto stderr');
    const r = await failing.try('tool', []);
    expect(r).to.deep.include({ failed: true, exitCode: 3, missing: false, reason: 'exit code 3' });
  });

  it('a program that is not on PATH is reported as missing, not as a crash', async () => {
    const r = await runner.try('kind', ['version']);
    expect(r).to.deep.include({
      failed: true,
      missing: true,
      reason: 'kind is not installed (not found on PATH)',
    });
  });
});
