/**
 * How the probe runs a batch: results stream out as attempts finish, a killed probe leaves the
 * finished ones, attempts overlap up to the bound, and bad input is reported, never run.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { resultFor, runProbe, startProbe, startServe, type ServeProcess } from './support/agent-process.js';
import { silentServer, type Running } from './support/servers.js';

const CLI = fileURLToPath(new URL('../../bin/bulkhead.js', import.meta.url));

describe('agent probe: running a batch', function () {
  let echo: ServeProcess;
  let silent: Running;

  before(async function () {
    this.timeout(20_000);
    echo = await startServe(['--port', '0']);
    silent = await silentServer();
  });

  after(async function () {
    await echo.stop();
    await silent.close();
  });

  const slow = (id: string, timeoutMs: number): object => ({
    id,
    kind: 'tcp',
    host: '127.0.0.1',
    port: silent.port,
    timeoutMs,
  });
  const fast = (id: string): object => ({
    id,
    kind: 'http',
    host: '127.0.0.1',
    port: echo.tcp[0],
    timeoutMs: 2000,
  });

  it('writes each result as it finishes, and a killed probe leaves the finished ones behind', async function () {
    const child = await startProbe([slow('slow', 8000), fast('fast')]);
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const firstLine = new Promise<void>((resolve) => {
      child.stdout.on('data', (s: string) => {
        stdout += s;
        if (stdout.includes('\n')) resolve();
      });
    });
    await firstLine;
    expect(child.exitCode, 'the probe is still running the slow attempt').to.equal(null);
    child.kill('SIGKILL');
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
    expect(signal).to.equal('SIGKILL');
    expect(code).to.equal(null);
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines).to.have.length(1);
    expect(JSON.parse(lines[0] ?? '')).to.include({ id: 'fast', outcome: 'allowed' });
  });

  it('runs attempts concurrently, and no more at once than --concurrency', async function () {
    const batch = ['a', 'b', 'c', 'd'].map((id) => slow(id, 300));
    const parallel = await runProbe(batch);
    const serial = await runProbe(batch, { args: ['--concurrency', '1'] });
    for (const run of [parallel, serial])
      expect(run.results.map((r) => r.outcome)).to.deep.equal(['error', 'error', 'error', 'error']);
    expect(parallel.wallMs).to.be.below(1100);
    expect(serial.wallMs).to.be.at.least(1200);
  });

  it('reports a malformed attempt as an error result of its own and runs the rest', async function () {
    const run = await runProbe([
      fast('good'),
      { id: 'no-port', kind: 'http', host: '127.0.0.1' },
      { id: 'bad-kind', kind: 'icmp' },
      { kind: 'tcp' },
      fast('good'),
    ]);
    expect(run.code).to.equal(0);
    expect(resultFor(run, 'no-port')).to.deep.include({ outcome: 'error' });
    expect(resultFor(run, 'no-port').evidence.problem).to.equal('port: required (1-65535)');
    expect(resultFor(run, 'bad-kind').evidence.problem).to.match(/^kind: must be one of http, tcp/);
    expect(resultFor(run, '#3').evidence.problem).to.equal('id: must be a non-empty string');
    const good = run.results.filter((r) => r.id === 'good');
    expect(good.map((r) => r.outcome)).to.have.members(['allowed', 'error']);
    expect(good.find((r) => r.outcome === 'error')?.reason).to.match(/used twice/);
  });

  it('exits 2 with a message and runs nothing when stdin is not a JSON array', async function () {
    for (const input of ['{"id":"a"}', 'not json']) {
      const run = await runProbe(input);
      expect(run.code, input).to.equal(2);
      expect(run.stdout, input).to.equal('');
      expect(run.stderr, input).to.match(
        /agent probe: the batch on stdin (is not JSON|must be a JSON array)/,
      );
    }
  });

  it('prints a summary with the peak RSS to stderr with --stats', async function () {
    const run = await runProbe([fast('a')], { args: ['--stats'] });
    const summary = (
      JSON.parse(run.stderr) as { summary: { attempts: number; outcomes: object; peakRssBytes: number } }
    ).summary;
    expect(summary.attempts).to.equal(1);
    expect(summary.outcomes).to.deep.equal({ allowed: 1 });
    expect(summary.peakRssBytes).to.be.above(1_000_000);
  });

  it('runs the same way as `bulkhead agent probe` from a checkout', async function () {
    this.timeout(20_000);
    const run = await runProbe([fast('via-cli')], { command: [process.execPath, CLI, 'agent', 'probe'] });
    expect(run.code).to.equal(0);
    expect(resultFor(run, 'via-cli').outcome).to.equal('allowed');
    const bad = await runProbe('[', { command: [process.execPath, CLI, 'agent', 'probe'] });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/is not JSON/);
    expect(bad.stderr).not.to.match(/\n\s+at /);
  });

  it('runs a session the same way as `bulkhead agent session` from a checkout', async function () {
    this.timeout(20_000);
    const lines = [
      { batch: 'one', attempts: [fast('first')] },
      'not a batch',
      { batch: 'two', attempts: [fast('second')] },
    ].map((l) => (typeof l === 'string' ? l : JSON.stringify(l)));
    const child = spawn(process.execPath, [CLI, 'agent', 'session', '--concurrency', '2'], { stdio: 'pipe' });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stdin.end(lines.join('\n') + '\n');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).to.equal(0);
    const values = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(values.filter((v) => !v.end).map((v) => [v.batch, v.id, v.outcome])).to.deep.equal([
      ['one', 'first', 'allowed'],
      ['two', 'second', 'allowed'],
    ]);
    const ends = values.filter((v) => v.end);
    expect(ends.map((v) => [v.batch, v.attempts])).to.deep.equal([
      ['one', 1],
      [null, 0],
      ['two', 1],
    ]);
    expect(ends[1]?.problem).to.be.a('string');
  });
});
