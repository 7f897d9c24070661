/**
 * Run in a child process with NODE_DEBUG set (debuglog reads it at start-up): one API read and
 * one exec against a fake API server, so the test can check what the developer trace prints.
 */
import { spawn } from 'node:child_process';

import { KubeClient } from '../../../harness/kube/client.js';
import { execInPod } from '../../../harness/kube/exec.js';
import { FakeApiServer } from '../../support/fake-apiserver/server.js';

const server = await new FakeApiServer({
  exec: () =>
    spawn(process.execPath, ['-e', "process.stdout.write('hello');process.exit(4)"], { stdio: 'pipe' }),
}).start();
try {
  const client = new KubeClient({ kubeConfig: server.kubeConfig() });
  await client.read({ apiVersion: 'v1', kind: 'Namespace', name: 'default' });
  server.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default' },
    spec: { containers: [{ name: 'agent', image: 'node' }] },
  });
  await execInPod(client.kubeConfig, {
    namespace: 'default',
    pod: 'p',
    container: 'agent',
    command: ['true'],
    timeoutMs: 5000,
  });
} finally {
  await server.stop();
}
