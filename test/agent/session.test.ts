/**
 * `bulkhead-agent session`, the protocol a run's persistent agent speaks: batch lines in, result
 * lines tagged with their batch out as attempts end, and an end line per batch; the process
 * stays up between batches and exits 0 when stdin ends. The results are the probe's own.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';

import { expect } from 'chai';

import { SHORT_WORK_NODE_FLAGS } from '../../harness/agent/v8-tiers.js';
import { AGENT_NODE, agentBundle, runProbe, startServe, type ServeProcess } from './support/agent-process.js';
import { closedPort, silentServer, type Running } from './support/servers.js';

interface Line {
  readonly at: number;
  readonly value: Record<string, unknown>;
}

interface Session {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: Line[];
  send(value: unknown): void;
  /** Waits (at most `ms`) until a line matches. */
  until(match: (value: Record<string, unknown>) => boolean, ms?: number): Promise<Line>;
  stderr(): string;
}

async function startSession(args: readonly string[] = []): Promise<Session> {
  const child = spawn(AGENT_NODE, [...SHORT_WORK_NODE_FLAGS, await agentBundle(), 'session', ...args], {
    stdio: 'pipe',
  });
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  let rest = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    const parts = (rest + s).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts)
      lines.push({ at: performance.now(), value: JSON.parse(part) as Record<string, unknown> });
    for (const wake of waiters) wake();
  });
  return {
    child,
    lines,
    send: (value) => child.stdin.write((typeof value === 'string' ? value : JSON.stringify(value)) + '\n'),
    until: (match, ms = 10_000) =>
      new Promise<Line>((resolve, reject) => {
        const check = () => {
          const found = lines.find((l) => match(l.value));
          if (!found) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no such line within ${ms} ms; got:\n${lines.map((l) => JSON.stringify(l.value)).join('\n')}\nstderr: ${stderr}`,
            ),
          );
        }, ms);
        waiters.add(check);
        check();
      }),
    stderr: () => stderr,
  };
}

const endOf = (batch: string | null) => (v: Record<string, unknown>) => v.end === true && v.batch === batch;

describe('agent session: batch after batch on one process', function () {
  this.timeout(30_000);
  let echo: ServeProcess;
  let silent: Running;
  let closed: number;
  let session: Session | undefined;

  before(async function () {
    echo = await startServe(['--port', '0']);
    silent = await silentServer();
    closed = await closedPort();
  });

  after(async function () {
    await echo.stop();
    await silent.close();
  });

  afterEach(() => {
    if (session?.child.exitCode === null) session.child.kill('SIGKILL');
    session = undefined;
  });

  const fast = (id: string): object => ({
    id,
    kind: 'http',
    host: '127.0.0.1',
    port: echo.tcp[0],
    timeoutMs: 2000,
  });
  const refused = (id: string): object => ({
    id,
    kind: 'tcp',
    host: '127.0.0.1',
    port: closed,
    timeoutMs: 2000,
  });
  const slow = (id: string, timeoutMs: number): object => ({
    id,
    kind: 'tcp',
    host: '127.0.0.1',
    port: silent.port,
    timeoutMs,
  });

  it('tags every result with its batch, closes each batch with its counts, and stays up between batches', async () => {
    session = await startSession();
    const batch = [fast('a'), refused('b')];
    session.send({ batch: 'one', attempts: batch });
    const end1 = await session.until(endOf('one'));
    expect(end1.value).to.deep.include({ attempts: 2, outcomes: { allowed: 1, refused: 1 } });
    expect(end1.value.peakRssBytes).to.be.above(1_000_000);
    expect(session.child.exitCode, 'the session waits for the next batch').to.equal(null);

    session.send({ batch: 'two', attempts: [refused('b'), fast('c')] });
    await session.until(endOf('two'));
    const results = session.lines.filter((l) => l.value.end !== true).map((l) => l.value);
    expect(results.map((r) => `${String(r.batch)}:${String(r.id)}:${String(r.outcome)}`)).to.have.members([
      'one:a:allowed',
      'one:b:refused',
      'two:b:refused',
      'two:c:allowed',
    ]);
    // Every line of batch one came before batch two started: batches run one after another.
    const lastOfOne = session.lines.findIndex((l) => endOf('one')(l.value));
    expect(session.lines.slice(0, lastOfOne).every((l) => l.value.batch === 'one')).to.equal(true);

    // The same results, field for field but the tag, as `probe` writes for the same batch.
    const probed = await runProbe(batch);
    const tagged = results.filter((r) => r.batch === 'one');
    for (const p of probed.results) {
      const mine = tagged.find((r) => r.id === p.id);
      expect(mine, p.id).to.deep.include({ id: p.id, kind: p.kind, outcome: p.outcome, reason: p.reason });
      expect(Object.keys(mine?.evidence ?? {}).sort(), p.id).to.deep.equal(Object.keys(p.evidence).sort());
    }
  });

  it('streams each result as its attempt ends and writes the end line after the last', async () => {
    session = await startSession();
    session.send({ batch: '7', attempts: [slow('slow', 1500), fast('fast')] });
    const fastLine = await session.until((v) => v.id === 'fast');
    const end = await session.until(endOf('7'));
    const slowLine = await session.until((v) => v.id === 'slow');
    expect(fastLine.value.batch).to.equal('7');
    expect(end.at - fastLine.at, 'the fast result did not wait for the slow one').to.be.above(1000);
    expect(session.lines.indexOf(slowLine)).to.be.below(session.lines.indexOf(end));
  });

  it('answers a line that is not a batch with an end line saying why, and goes on', async () => {
    session = await startSession();
    session.send('not json');
    session.send([fast('x')]);
    session.send({ batch: 'no-attempts' });
    session.send({
      batch: 'bad-item',
      attempts: [{ id: 'no-port', kind: 'http', host: '127.0.0.1' }, fast('ok')],
    });
    await session.until(endOf('bad-item'));
    const ends = session.lines.filter((l) => l.value.end === true).map((l) => l.value);
    expect(ends.slice(0, 3).map((e) => [e.batch, e.attempts])).to.deep.equal([
      [null, 0],
      [null, 0],
      ['no-attempts', 0],
    ]);
    expect(String(ends[0]?.problem)).to.match(/^the batch line is not JSON: /);
    expect(ends[1]?.problem).to.equal('a batch line must be an object {"batch": "<id>", "attempts": [...]}');
    expect(ends[2]?.problem).to.equal('attempts: must be a JSON array of attempts');
    // One bad attempt is an error result of its own, as in probe; the rest of its batch runs.
    expect(ends[3]).to.deep.include({ batch: 'bad-item', attempts: 2, outcomes: { error: 1, allowed: 1 } });
    const bad = session.lines.find((l) => l.value.id === 'no-port')?.value;
    expect(bad).to.deep.include({ batch: 'bad-item', outcome: 'error' });
    expect((bad?.evidence as { problem?: string }).problem).to.equal('port: required (1-65535)');
    expect(session.child.exitCode).to.equal(null);
  });

  it('runs what it was given when stdin ends, then exits 0', async () => {
    session = await startSession(['--concurrency', '1']);
    session.send({ batch: 'last', attempts: [slow('s', 500), refused('r')] });
    session.child.stdin.end();
    const [code] = (await once(session.child, 'close')) as [number | null];
    expect(code, session.stderr()).to.equal(0);
    expect(session.lines.map((l) => l.value.id ?? `end:${String(l.value.batch)}`)).to.deep.equal([
      's',
      'r',
      'end:last',
    ]);
  });
});
