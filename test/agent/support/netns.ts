/**
 * A pair of network namespaces joined by a veth link, made for one test and removed after it:
 * the only non-loopback addresses a test ever dials. Drop rules go inside the destination
 * namespace, where Calico puts them too (at the workload end, docs/behaviour.md O8).
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NetnsPair {
  /** The probing side. */
  readonly client: string;
  /** The side that serves and drops. */
  readonly server: string;
  readonly clientAddress: string;
  readonly serverAddress: string;
  /** Loads an nftables ruleset inside the server namespace. */
  nft(ruleset: string): Promise<void>;
  /**
   * Points the client namespace's resolver at an address, with a per-query timeout in seconds
   * (`ip netns exec` mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf).
   */
  resolver(nameserver: string, timeoutSeconds: number): Promise<void>;
  remove(): Promise<void>;
}

/** Why namespaces cannot be used here, or undefined when they can. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  for (const [tool, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
  ] as const) {
    try {
      await run(tool, args);
    } catch {
      return `needs the \`${tool}\` command (${tool === 'ip' ? 'iproute2' : 'nftables'})`;
    }
  }
  return undefined;
}

/** Creates the pair; on any failure removes what it made and throws. */
export async function createNetnsPair(tag: string): Promise<NetnsPair> {
  const id = `${tag}-${process.pid}`;
  const client = `bh-${id}-c`;
  const server = `bh-${id}-s`;
  const suffix = String(process.pid % 100_000);
  const [clientLink, serverLink] = [`bhc${suffix}`, `bhs${suffix}`];
  const [clientAddress, serverAddress] = ['10.213.0.1', '10.213.0.2'];
  const remove = async (): Promise<void> => {
    for (const ns of [client, server]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await rm(`/etc/netns/${client}`, { recursive: true, force: true });
  };
  try {
    await run('ip', ['netns', 'add', client]);
    await run('ip', ['netns', 'add', server]);
    await run('ip', [
      'link',
      'add',
      clientLink,
      'netns',
      client,
      'type',
      'veth',
      'peer',
      'name',
      serverLink,
      'netns',
      server,
    ]);
    for (const [ns, link, address] of [
      [client, clientLink, clientAddress],
      [server, serverLink, serverAddress],
    ] as const) {
      await run('ip', ['-n', ns, 'addr', 'add', `${address}/30`, 'dev', link]);
      await run('ip', ['-n', ns, 'link', 'set', link, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    client,
    server,
    clientAddress,
    serverAddress,
    nft: async (ruleset) => {
      const child = execFile('ip', ['netns', 'exec', server, 'nft', '-f', '-']);
      const done = new Promise<void>((resolve, reject) => {
        let stderr = '';
        child.stderr?.on('data', (s: string) => (stderr += s));
        child.on('close', (code) => {
          if (code === 0) resolve();
          else reject(new Error(`nft failed (${code}): ${stderr}`));
        });
      });
      child.stdin?.end(ruleset);
      await done;
    },
    resolver: async (nameserver, timeoutSeconds) => {
      await mkdir(`/etc/netns/${client}`, { recursive: true });
      await writeFile(
        `/etc/netns/${client}/resolv.conf`,
        `nameserver ${nameserver}\noptions timeout:${timeoutSeconds} attempts:1\n`,
      );
    },
    remove,
  };
}
