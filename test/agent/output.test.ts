/**
 * The agent's coalesced result lines: one write per turn of the event loop, nothing held past
 * it, and nothing lost at exit.
 */
import { expect } from 'chai';

import { coalescedOutput } from '../../harness/agent/output.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('agent output: coalesced result lines', () => {
  it('sends the lines of one turn in one write, in order, and nothing before the turn ends', async () => {
    const sent: string[] = [];
    const out = coalescedOutput((text) => sent.push(text));
    out.write('{"id":"a"}\n');
    out.write('{"id":"b"}\n');
    await Promise.resolve();
    expect(sent).to.deep.equal([]);
    await nextTurn();
    expect(sent).to.deep.equal(['{"id":"a"}\n{"id":"b"}\n']);
    out.write('{"id":"c"}\n');
    await nextTurn();
    expect(sent).to.deep.equal(['{"id":"a"}\n{"id":"b"}\n', '{"id":"c"}\n']);
  });

  it('flush() sends what is queued at once and leaves nothing for the scheduled write', async () => {
    const sent: string[] = [];
    const out = coalescedOutput((text) => sent.push(text));
    out.write('{"end":true}\n');
    out.flush();
    expect(sent).to.deep.equal(['{"end":true}\n']);
    await nextTurn();
    expect(sent).to.have.length(1);
    out.flush();
    expect(sent).to.have.length(1);
  });
});
