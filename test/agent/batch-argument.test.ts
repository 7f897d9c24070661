import { expect } from 'chai';

import { resultFor, runProbe } from './support/agent-process.js';
import { closedPort } from './support/servers.js';

describe('agent probe --batch (exec without stdin)', () => {
  it('takes the batch as a base64 argument and ignores stdin', async () => {
    const port = await closedPort();
    const batch = [{ id: 'closed', kind: 'tcp', host: '127.0.0.1', port, timeoutMs: 2000 }];
    const run = await runProbe('this is not JSON and must not be read', {
      args: ['--batch', Buffer.from(JSON.stringify(batch)).toString('base64')],
    });
    expect(run.code).to.equal(0);
    expect(resultFor(run, 'closed').outcome).to.equal('refused');
  });

  it('exits 2 when the argument does not hold a batch', async () => {
    const run = await runProbe('[]', {
      args: ['--batch', Buffer.from('{"not":"an array"}').toString('base64')],
    });
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/^agent probe: /);
  });
});
