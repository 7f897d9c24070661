import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { repoRoot } from '../support/scenarios.js';

describe('kube: the developer trace (NODE_DEBUG=bulkhead:kube,bulkhead:exec)', function () {
  this.timeout(30_000);

  it('prints verb, path, status and milliseconds per API call, and pod, subprotocol, bytes and exit per exec', async () => {
    const { stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'test/kube/support/trace-run.ts'],
      {
        cwd: repoRoot,
        env: { ...process.env, NODE_DEBUG: 'bulkhead:kube,bulkhead:exec' },
      },
    );
    expect(stderr).to.match(/^BULKHEAD:KUBE \d+: GET \/api\/v1\/namespaces\/default -> 200 in \d+ ms$/m);
    expect(stderr).to.match(
      /^BULKHEAD:EXEC \d+: pod default\/p \(container agent\) \[v5\.channel\.k8s\.io\] -> exit 4, 5 bytes out, 0 bytes err, \d+ ms$/m,
    );
  });

  it('prints nothing without NODE_DEBUG', async () => {
    const env = { ...process.env };
    delete env.NODE_DEBUG;
    const { stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'test/kube/support/trace-run.ts'],
      {
        cwd: repoRoot,
        env,
      },
    );
    expect(stderr).to.not.contain('BULKHEAD:');
  });
});
