/**
 * bulkhead's stand-in for "the internet" on kind: a container outside the cluster, on the docker
 * network kind puts its nodes on, that answers HTTP on port 80. An `egress` attempt to the
 * internet then has something that would answer, so a denied outcome means the network refused it
 * and an allowed one shows a real answer, without any packet leaving the machine.
 *
 * kind attaches every node to the docker network `kind` unless KIND_EXPERIMENTAL_DOCKER_NETWORK
 * names another (kubernetes-sigs/kind `pkg/cluster/internal/providers/docker/network.go`
 * @v0.30.0, `fixedNetworkName = "kind"`). The container runs the agent's own pinned Node image with
 * a one-line server; it is created and removed through the command seam like every other step.
 */
import { isIP } from 'node:net';

import { UserError } from '../errors.js';
import type { CommandRunner } from './commands.js';

/** The docker network kind's nodes are on (see the module header). */
export const KIND_NETWORK = 'kind';
/** The port the stand-in answers on. */
export const INTERNET_PORT = 80;
/** Marks the container as bulkhead's, per cluster (not kind's label: kind would count it as a node). */
export const INTERNET_LABEL = 'dev.bulkhead.internet';

/** What the stand-in answers every request with. */
export const INTERNET_BODY = 'bulkhead internet stand-in';

/**
 * What acquiring a cluster is told so that the provider starts the stand-in: on kind only, running
 * the agent's image. `run` and `upgrade-check` both ask for it through this.
 */
export function internetStandIn(provider: string, image: string): { readonly internetImage?: string } {
  return provider === 'kind' ? { internetImage: image } : {};
}

export function internetContainerName(cluster: string): string {
  return `${cluster}-bulkhead-internet`;
}

/** The one-line server the container runs (Node's http module, nothing installed). */
const SERVER = `require('http').createServer((q,s)=>{s.setHeader('content-type','text/plain');s.end(${JSON.stringify(INTERNET_BODY)})}).listen(${INTERNET_PORT})`;

/**
 * Starts the stand-in (replacing a stale one of the same name) and returns its address on the kind
 * network.
 */
export async function startInternet(runner: CommandRunner, cluster: string, image: string): Promise<string> {
  const name = internetContainerName(cluster);
  await runner.try('docker', ['rm', '-f', name], { timeoutMs: 60_000 });
  await runner.run(
    'docker',
    [
      'run',
      '-d',
      '--name',
      name,
      '--network',
      KIND_NETWORK,
      '--label',
      `${INTERNET_LABEL}=${cluster}`,
      image,
      'node',
      '-e',
      SERVER,
    ],
    { timeoutMs: 300_000 },
  );
  const inspected = await runner.run(
    'docker',
    ['inspect', '--format', `{{(index .NetworkSettings.Networks "${KIND_NETWORK}").IPAddress}}`, name],
    { timeoutMs: 60_000 },
  );
  const address = inspected.stdout.trim();
  if (isIP(address) === 0) {
    await stopInternet(runner, cluster);
    throw new UserError(
      `the internet stand-in container ${name} has no address on the docker network '${KIND_NETWORK}' (docker inspect said '${address}')`,
    );
  }
  return address;
}

/** Removes the stand-in; a container already gone is fine. */
export async function stopInternet(runner: CommandRunner, cluster: string): Promise<void> {
  await runner.try('docker', ['rm', '-f', internetContainerName(cluster)], { timeoutMs: 60_000 });
}
