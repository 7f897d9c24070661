/**
 * `npm run bench:agent`: one batch of 1,000 attempts through the real agent bundle, 200 of them
 * ending in a 2 s connect timeout (SYNs dropped by an nftables rule inside a network namespace,
 * as Calico drops them), the other 800 answered by local servers (the echo, Envoy-like replies,
 * a closing server, a closed port). The batch must finish in under 2 × the longest deadline with
 * the agent's peak RSS under 150 MB. Needs root, `ip` and `nft`.
 *
 * The bench re-runs itself inside the client namespace, so the agent, its local servers and its
 * loopback live there and the only other address dialled is the namespace it created.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { agentBundle, startServe } from '../test/agent/support/agent-process.js';
import { createNetnsPair, netnsUnavailable } from '../test/agent/support/netns.js';
import {
  acceptAndCloseServer,
  closedPort,
  ENVOY_RBAC_DENY,
  envoyUpstreamFailure,
  replyServer,
} from '../test/agent/support/servers.js';

const DEADLINE_MS = 2000;
const DROPPED_PORT = 7001;
const LIMIT_WALL_MS = 2 * DEADLINE_MS;
const LIMIT_RSS_BYTES = 150 * 1024 * 1024;
const SELF = fileURLToPath(import.meta.url);

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    inside: { type: 'string' },
    /** The Node binary that runs the agent (default: this one), e.g. to measure another major. */
    node: { type: 'string', default: process.execPath },
  },
});
const runs = Number(values.runs);

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

interface Item {
  readonly id: string;
  readonly kind: string;
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly http?: object;
}

/** The batch, and the outcome count each kind of target must produce. */
function batch(
  dropHost: string,
  ports: Readonly<Record<'echo' | 'udp' | 'rbac' | 'uf' | 'closes' | 'closed', number>>,
): {
  items: Item[];
  expected: Record<string, number>;
} {
  const groups: [count: number, kind: string, host: string, port: number, outcome: string][] = [
    [200, 'http', dropHost, DROPPED_PORT, 'denied-l4'],
    [350, 'http', '127.0.0.1', ports.echo, 'allowed'],
    [100, 'tcp', '127.0.0.1', ports.echo, 'allowed'],
    [50, 'udp', '127.0.0.1', ports.udp, 'allowed'],
    [100, 'http', '127.0.0.1', ports.rbac, 'denied-l7'],
    [50, 'http', '127.0.0.1', ports.uf, 'denied-l4'],
    [50, 'tcp', '127.0.0.1', ports.closes, 'denied-l7'],
    [100, 'http', '127.0.0.1', ports.closed, 'refused'],
  ];
  const items: Item[] = [];
  const expected: Record<string, number> = {};
  for (const [count, kind, host, port, outcome] of groups) {
    expected[outcome] = (expected[outcome] ?? 0) + count;
    for (let i = 0; i < count; i++)
      items.push({ id: `${kind}-${port}-${i}`, kind, host, port, timeoutMs: DEADLINE_MS });
  }
  // Interleave, so drops and answers share the concurrency bound as they would in a real round.
  items.sort((a, b) => hash(a.id) - hash(b.id));
  return { items, expected };
}

function hash(text: string): number {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}

interface Measure {
  readonly wallMs: number;
  readonly peakRssBytes: number;
  readonly outcomes: Record<string, number>;
}

async function once_(items: readonly Item[]): Promise<Measure> {
  const started = performance.now();
  const child = spawn(values.node, [await agentBundle(), 'probe', '--stats'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  const outcomes: Record<string, number> = {};
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    pending += s;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const { outcome } = JSON.parse(line) as { outcome: string };
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin.end(JSON.stringify(items));
  const [code] = (await once(child, 'close')) as [number | null];
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`agent probe exited ${code}: ${stderr}`);
  const { summary } = JSON.parse(stderr) as { summary: { peakRssBytes: number } };
  return { wallMs, peakRssBytes: summary.peakRssBytes, outcomes };
}

async function inside(dropHost: string): Promise<number> {
  const echo = await startServe(['--port', '0', '--udp-port', '0']);
  const servers = await Promise.all([
    replyServer(ENVOY_RBAC_DENY),
    replyServer(envoyUpstreamFailure('connection timeout')),
    acceptAndCloseServer(),
  ]);
  const [rbac, uf, closes] = servers;
  try {
    const { items, expected } = batch(dropHost, {
      echo: echo.tcp[0] ?? 0,
      udp: echo.udp[0] ?? 0,
      rbac: rbac.port,
      uf: uf.port,
      closes: closes.port,
      closed: await closedPort(),
    });
    process.stdout.write(
      `agent bench: ${items.length} attempts (200 of them dropped SYNs, ${DEADLINE_MS} ms deadline each), ${runs} runs, agent on ${values.node}\n`,
    );
    const measures: Measure[] = [];
    for (let run = 1; run <= runs; run++) {
      const m = await once_(items);
      measures.push(m);
      const wrong = Object.keys({ ...expected, ...m.outcomes }).filter((o) => expected[o] !== m.outcomes[o]);
      process.stdout.write(
        `  run ${run}: wall ${m.wallMs.toFixed(0)} ms, peak RSS ${(m.peakRssBytes / 1048576).toFixed(1)} MB` +
          (wrong.length ? `, UNEXPECTED outcomes ${JSON.stringify(m.outcomes)}` : '') +
          '\n',
      );
      if (wrong.length) return 1;
    }
    const wall = median(measures.map((m) => m.wallMs));
    const rss = median(measures.map((m) => m.peakRssBytes));
    const ok = wall < LIMIT_WALL_MS && rss < LIMIT_RSS_BYTES;
    process.stdout.write(
      `median: wall ${wall.toFixed(0)} ms (limit ${LIMIT_WALL_MS}), peak RSS ${(rss / 1048576).toFixed(1)} MB (limit ${LIMIT_RSS_BYTES / 1048576}) — ${ok ? 'ok' : 'OVER THE LIMIT'}\n`,
    );
    return ok ? 0 : 1;
  } finally {
    await echo.stop();
    await Promise.all(servers.map((s) => s.close()));
  }
}

async function outside(): Promise<number> {
  const unavailable = await netnsUnavailable();
  if (unavailable) {
    process.stderr.write(`agent bench: cannot run: ${unavailable}\n`);
    return 2;
  }
  await agentBundle();
  const pair = await createNetnsPair('bench');
  const cleanup = (): void => {
    void pair.remove();
  };
  process.once('SIGINT', cleanup);
  try {
    await pair.nft(
      `table inet bulkhead_bench {
        chain input {
          type filter hook input priority 0; policy accept;
          tcp dport ${DROPPED_PORT} drop
        }
      }`,
    );
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        pair.client,
        process.execPath,
        '--import',
        'tsx',
        SELF,
        '--inside',
        pair.serverAddress,
        '--runs',
        String(runs),
        '--node',
        values.node,
      ],
      { stdio: 'inherit' },
    );
    const [code] = (await once(child, 'close')) as [number | null];
    return code ?? 1;
  } finally {
    process.off('SIGINT', cleanup);
    await pair.remove();
  }
}

process.exitCode = values.inside ? await inside(values.inside) : await outside();
