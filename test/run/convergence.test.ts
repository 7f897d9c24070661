import { expect } from 'chai';

import { Convergence } from '../../harness/run/convergence.js';
import { argvChunks } from '../../harness/run/execute.js';
import { expectation, type Outcome } from '../../harness/scenario/outcomes.js';

const denied = expectation(['denied']);
const allowed = expectation(['allowed']);
const apiForbidden = expectation(['api-forbidden']);

function observe(c: Convergence, attempt: string, outcomes: readonly Outcome[]): void {
  outcomes.forEach((outcome, i) => {
    c.record({ attempt, round: i + 1, outcome, at: 1000 + i });
  });
}

describe('convergence', () => {
  it('settles an attempt after three equal outcomes in a row, not before', () => {
    const c = new Convergence();
    observe(c, 'a', ['denied-l4', 'denied-l4']);
    expect(c.isSettled('a')).to.equal(false);
    observe(c, 'b', ['allowed', 'denied-l4', 'denied-l4', 'denied-l4']);
    expect(c.isSettled('b')).to.equal(true);
    c.record({ attempt: 'a', round: 3, outcome: 'denied-l7', at: 5 });
    expect(c.isSettled('a')).to.equal(false);
  });

  it('passes a settled outcome that meets the expectation, and fails one that does not', () => {
    const c = new Convergence();
    observe(c, 'ok', ['denied-l7', 'denied-l7', 'denied-l7']);
    observe(c, 'bad', ['denied-l7', 'denied-l7', 'denied-l7']);
    expect(c.judge('ok', denied)).to.deep.include({
      verdict: 'pass',
      outcome: 'denied-l7',
      rounds: 3,
      stable: true,
      leak: false,
    });
    const bad = c.judge('bad', allowed);
    expect(bad).to.deep.include({ verdict: 'fail', outcome: 'denied-l7', stable: true });
    expect(bad.reason).to.equal('expected allowed, observed denied-l7 in the last 3 rounds');
  });

  it('fails a must-deny attempt seen allowed in any round, even if it settles denied afterwards', () => {
    const c = new Convergence();
    observe(c, 'leaky', ['denied-l4', 'allowed', 'denied-l4', 'denied-l4', 'denied-l4']);
    const j = c.judge('leaky', denied);
    expect(j).to.deep.include({ verdict: 'fail', leak: true, outcome: 'allowed', stable: true, rounds: 5 });
    expect(j.reason).to.equal('leak: expected denied, observed allowed in round 2');
  });

  it('treats api-allowed as a leak of an api-forbidden expectation', () => {
    const c = new Convergence();
    observe(c, 'token', ['api-forbidden', 'api-allowed']);
    expect(c.judge('token', apiForbidden)).to.deep.include({
      verdict: 'fail',
      leak: true,
      outcome: 'api-allowed',
    });
  });

  it('does not treat an allowed outcome as a leak when the expectation admits it', () => {
    const c = new Convergence();
    observe(c, 'flappy', ['denied-l4', 'allowed', 'allowed', 'allowed']);
    expect(c.judge('flappy', allowed)).to.deep.include({ verdict: 'pass', leak: false });
  });

  it('reports error, never a deny, when the last round failed to probe', () => {
    const c = new Convergence();
    observe(c, 'e', ['denied-l4', 'denied-l4', 'error']);
    const j = c.judge('e', denied);
    expect(j).to.deep.include({ verdict: 'error', outcome: 'error' });
    expect(j.reason).to.equal('the probe failed in round 3');
    expect(c.judge('never', denied)).to.deep.include({ verdict: 'error', reason: 'never observed' });
  });

  it('judges an unsettled attempt by every round it had', () => {
    const c = new Convergence();
    observe(c, 'mixed-ok', ['denied-l4', 'denied-l7', 'reset']);
    observe(c, 'mixed-bad', ['denied-l4', 'refused', 'denied-l7']);
    expect(c.judge('mixed-ok', denied)).to.deep.include({ verdict: 'pass', stable: false });
    expect(c.judge('mixed-ok', denied).reason).to.equal(
      'did not settle in 3 round(s): observed denied-l4, denied-l7, reset, each satisfying the expectation',
    );
    expect(c.judge('mixed-bad', expectation(['denied-l7'])).verdict).to.equal('fail');
  });

  it('lists what still needs rounds: neither settled nor already a leak', () => {
    const c = new Convergence();
    observe(c, 'settled', ['allowed', 'allowed', 'allowed']);
    observe(c, 'leak', ['allowed']);
    observe(c, 'young', ['denied-l4']);
    const attempts = [
      { id: 'settled', expect: allowed },
      { id: 'leak', expect: denied },
      { id: 'young', expect: denied },
      { id: 'new', expect: denied },
    ];
    expect(c.unsettled(attempts)).to.deep.equal(['young', 'new']);
  });

  it('keeps every observation', () => {
    const c = new Convergence({ stableRounds: 2 });
    observe(c, 'a', ['denied-l4', 'allowed', 'denied-l4', 'denied-l4']);
    expect(c.observations('a').map((o) => o.outcome)).to.deep.equal([
      'denied-l4',
      'allowed',
      'denied-l4',
      'denied-l4',
    ]);
    expect(c.isSettled('a')).to.equal(true);
  });
});

describe('batches as arguments', () => {
  it('splits items into JSON arrays that each stay under the size of one argument', () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ id: `a${i}`, pad: 'x'.repeat(30) }));
    const chunks = argvChunks(items, 200);
    expect(chunks.every((c) => c.length <= 200)).to.equal(true);
    expect(chunks.flatMap((c) => (JSON.parse(c) as { id: string }[]).map((i) => i.id))).to.deep.equal(
      items.map((i) => i.id),
    );
    expect(chunks.length).to.be.greaterThan(1);
    expect(argvChunks([{ id: 'one' }])).to.deep.equal(['[{"id":"one"}]']);
  });
});
