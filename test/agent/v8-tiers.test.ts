/**
 * The agent's short commands run without V8's optimizing tiers, Maglev and Turbofan
 * (harness/agent/v8-tiers.ts): every pod would compile the same hot functions again and never
 * earn the time back. Read from V8's own
 * code log, which names each function compiled and its tier; the bundle with the call
 * taken out is the control, so the test proves the workload does reach them otherwise.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { AGENT_NODE, agentBundle } from './support/agent-process.js';
import { replyServer, type Running } from './support/servers.js';

/**
 * `probe` or `session` on `attempts` HTTP attempts, with V8 logging the code it creates to a file
 * of its own (`--log-code`: one `code-creation,JS,…` line per compile, its last field the tier,
 * `+` for Maglev, `*` for Turbofan): the results, and the functions either compiled, by name
 * and source position.
 */
async function traced(
  command: 'probe' | 'session',
  bundle: string,
  port: number,
  attempts: number,
  log: string,
): Promise<{ allowed: number; optimized: Set<string> }> {
  const child = spawn(
    AGENT_NODE,
    ['--log-code', `--logfile=${log}`, '--no-logfile-per-isolate', bundle, command],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const batch = Array.from({ length: attempts }, (_, i) => ({
    id: `a${i}`,
    kind: 'http',
    host: '127.0.0.1',
    port,
    timeoutMs: 10_000,
  }));
  child.stdin.end(
    command === 'probe' ? JSON.stringify(batch) : JSON.stringify({ batch: 'b', attempts: batch }) + '\n',
  );
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.resume();
  await once(child, 'close');
  const results = stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { outcome?: string });
  const optimized = (await readFile(log, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('code-creation,JS,'))
    .map((l) => l.split(','))
    .filter((f) => /^[+*]/.test(f[f.length - 1] ?? ''))
    .map((f) => f.slice(6, -2).join(','));
  return { allowed: results.filter((r) => r.outcome === 'allowed').length, optimized: new Set(optimized) };
}

describe('agent V8 tiers', function () {
  this.timeout(60_000);
  let server: Running;
  let dir: string;
  before(async function () {
    server = await replyServer({ status: 200, headers: {}, body: '{}' });
    dir = await mkdtemp(path.join(tmpdir(), 'agent-tiers-'));
  });
  after(async function () {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const command of ['probe', 'session'] as const)
    it(`${command} compiles nothing with Maglev or Turbofan past Node's start, where the same bundle without the switch compiles dozens`, async function () {
      const bundle = await agentBundle();
      const text = await readFile(bundle, 'utf8');
      const calls = text.split('tuneForShortWork();').length - 1;
      expect(calls, 'calls of tuneForShortWork in the bundle').to.be.at.least(1);
      const control = path.join(dir, 'agent-with-optimizers.mjs');
      await writeFile(control, text.replaceAll('tuneForShortWork();', ''));

      // Node's own start (its module loader) runs before the agent's first line and may reach
      // an optimizing tier already: what an agent given nothing compiles is not the agent's doing.
      const start = (await traced(command, bundle, server.port, 0, path.join(dir, `${command}-start.log`)))
        .optimized;
      const beyondStart = (names: Set<string>) => [...names].filter((n) => !start.has(n));

      const without = await traced(
        command,
        control,
        server.port,
        400,
        path.join(dir, `${command}-control.log`),
      );
      expect(without.allowed).to.equal(400);
      expect(beyondStart(without.optimized).length, 'functions optimized without the switch').to.be.at.least(
        20,
      );

      const tuned = await traced(command, bundle, server.port, 400, path.join(dir, `${command}-tuned.log`));
      expect(tuned.allowed).to.equal(400);
      expect(beyondStart(tuned.optimized), 'functions optimized with it').to.deep.equal([]);
    });
});
