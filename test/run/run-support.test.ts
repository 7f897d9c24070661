import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { isManaged, newRunId, runLabels, runSelector } from '../../harness/run/identity.js';
import { createProgress, elapsed, isInteractive } from '../../harness/run/progress.js';
import { ResultsLog } from '../../harness/results/records.js';

describe('run identity', () => {
  it('makes sortable run ids that are valid label values', () => {
    const id = newRunId(new Date('2026-11-24T13:05:01.123Z'), () => '7f3a');
    expect(id).to.equal('20261124-130501-7f3a');
    expect(id).to.match(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/);
  });

  it('labels objects with the manager, run and scenario, and selects one run', () => {
    expect(runLabels('r1', 'hard-isolation')).to.deep.equal({
      'app.kubernetes.io/managed-by': 'bulkhead',
      'bulkhead.dev/run': 'r1',
      'bulkhead.dev/scenario': 'hard-isolation',
    });
    expect(runSelector('r1')).to.equal('app.kubernetes.io/managed-by=bulkhead,bulkhead.dev/run=r1');
    expect(isManaged({ 'app.kubernetes.io/managed-by': 'bulkhead' })).to.equal(true);
    expect(isManaged({ 'app.kubernetes.io/managed-by': 'helm' })).to.equal(false);
    expect(isManaged(undefined)).to.equal(false);
  });
});

describe('results.jsonl', () => {
  it('appends one versioned JSON line per call, readable while the run goes on', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-results-'));
    try {
      const log = new ResultsLog(path.join(dir, 'run-1'));
      log.append({
        type: 'run',
        runId: 'r',
        scenario: 's',
        scenarioFile: '/s.yaml',
        scenarioSha256: 'x',
        startedAt: '2026-11-24T00:00:00Z',
        cluster: 'https://127.0.0.1:6443',
        attempts: 1,
      });
      log.append({
        type: 'observation',
        attempt: 'a',
        round: 1,
        outcome: 'denied-l4',
        at: '2026-11-24T00:00:01Z',
      });
      // Nothing is buffered: the file already holds both lines.
      const lines = (await readFile(log.file, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).to.have.length(2);
      expect(lines[0]).to.deep.include({ v: 1, type: 'run', runId: 'r' });
      expect(lines[1]).to.deep.include({
        v: 1,
        type: 'observation',
        attempt: 'a',
        round: 1,
        outcome: 'denied-l4',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('progress', () => {
  it('writes timestamped lines in CI, one per change', () => {
    let out = '';
    let t = Date.parse('2026-11-24T10:00:00Z');
    const p = createProgress({ write: (s) => (out += s), interactive: false, now: () => t });
    p.phase('wait ready');
    p.update('3/19 pods ready');
    p.update('3/19 pods ready');
    t += 2500;
    p.update('19/19 pods ready');
    p.done('19 pods');
    p.phase('execute');
    t += 61_000;
    p.fail('exec refused');
    expect(out).to.equal(
      [
        '10:00:00 wait ready ...',
        '10:00:00 wait ready: 3/19 pods ready',
        '10:00:02 wait ready: 19/19 pods ready',
        '10:00:02 wait ready: done in 2.5 s (19 pods)',
        '10:00:02 execute ...',
        '10:01:03 execute: FAILED after 1 min 1 s: exec refused',
        '',
      ].join('\n'),
    );
  });

  it('draws a spinner line on a terminal and ends it with a mark', () => {
    let out = '';
    let t = 0;
    const p = createProgress({ write: (s) => (out += s), interactive: true, now: () => t });
    p.phase('apply fixtures');
    p.update('12 objects');
    t = 1200;
    p.done();
    expect(out).to.contain('\r\x1b[2K');
    expect(out).to.contain('apply fixtures: 12 objects');
    expect(out.endsWith('\r\x1b[2K✔ apply fixtures (1.2 s)\n')).to.equal(true);
  });

  it('is interactive only on a terminal outside CI', () => {
    expect(isInteractive({ isTTY: true }, {})).to.equal(true);
    expect(isInteractive({ isTTY: true }, { CI: 'true' })).to.equal(false);
    expect(isInteractive({}, {})).to.equal(false);
    expect(elapsed(999)).to.equal('999 ms');
  });
});
