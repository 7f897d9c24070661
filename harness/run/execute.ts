/**
 * One round of attempts: one exec per source pod carrying all of that pod's attempts (the agent
 * runs them concurrently), source pods in parallel, at most {@link OpeningLimit} execs opening at
 * once. Results are handed on line by line as they arrive, so an exec that dies midway still
 * yields what finished. Whatever did not come back is an `error` observation with the reason:
 * never a deny. A run keeps one agent session per pod instead (harness/run/sessions.ts) and
 * comes here only where the API server cannot half-close stdin (v4 exec): the per-round mode.
 */
import type { KubeConfig } from '@kubernetes/client-node';

import { toBatchItem, type AttemptScenario } from '../agent/from-attempt.js';
import { ExecError, execInPod } from '../kube/exec.js';
import type { Outcome } from '../scenario/outcomes.js';
import type { Attempt } from '../scenario/types.js';
import { LineSplitter, parseResultLine } from './agent-output.js';
import { AGENT_CONTAINER, agentCommand } from './fixtures.js';
import { messageOf } from '../values.js';

export interface RoundObservation {
  readonly attempt: string;
  readonly outcome: Outcome;
  readonly reason: string;
  readonly evidence: Readonly<Record<string, unknown>>;
}

export interface SourceBatch {
  /** `namespace/workload` of the source. */
  readonly source: string;
  readonly namespace: string;
  readonly pod: string;
  readonly attempts: readonly Attempt[];
}

export interface RoundProps {
  readonly kubeConfig: KubeConfig;
  readonly scenario: AttemptScenario;
  readonly batches: readonly SourceBatch[];
  /** Receives each observation the moment it is known. */
  readonly observe: (o: RoundObservation) => void;
  /**
   * How many attempts the agent runs at once in one pod.
   * @default 64
   */
  readonly concurrency?: number;
  /** Extra time over the attempts' own deadlines for exec set-up and Node start. @default 20000 */
  readonly execSlackMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Attempt id → the deadline the agent gets, for attempts whose deadline the run lengthened
   * (harness/run/mesh-deadlines.ts). Default: each attempt's own timeoutMs.
   */
  readonly deadlines?: ReadonlyMap<string, number>;
  /** How batches reach the agent; updated when the server turns out to speak only v4. */
  readonly transport?: Transport;
  /** Caps the execs opening at once; share one across rounds. Default: a cap of its own, {@link DEFAULT_EXEC_CONCURRENCY}. */
  readonly openings?: OpeningLimit;
}

/** Exec sessions opening at once by default (`--exec-concurrency`). */
export const DEFAULT_EXEC_CONCURRENCY = 32;

/**
 * A counting semaphore over exec *openings*: a slot is held from the exec request until its
 * WebSocket is open (or the attempt failed), so that 1,000 source pods do not ask the API server
 * and the kubelets for 1,000 upgrades in the same second. Open execs hold no slot.
 */
export class OpeningLimit {
  readonly limit: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(limit: number = DEFAULT_EXEC_CONCURRENCY) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`exec concurrency must be 1 or more, not ${limit}`);
    this.limit = limit;
  }

  /** Waits for a slot; resolves with its release (calling it twice is harmless). Rejects when aborted. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new Error('aborted'));
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active += 1;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.active -= 1;
          this.waiting.shift()?.();
        });
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new Error('aborted'));
      };
      if (this.active < this.limit) grant();
      else {
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(grant);
      }
    });
  }
}

/** Attempts an agent runs at once in one pod, unless the run says otherwise (`RunSettings.concurrency`). */
export const DEFAULT_AGENT_CONCURRENCY = 64;

/** The command a runner (or a person) runs in a source pod. */
export function probeCommand(concurrency: number): string[] {
  return agentCommand('probe', ['--concurrency', String(concurrency)]);
}

/** The exec deadline for a batch: its longest attempt, per wave of `concurrency`, plus slack. */
export function batchDeadlineMs(
  attempts: readonly Attempt[],
  concurrency: number,
  slackMs: number,
  deadlines: ReadonlyMap<string, number> = new Map(),
): number {
  return itemsDeadlineMs(
    attempts.map((a) => deadlines.get(a.id) ?? a.timeoutMs),
    concurrency,
    slackMs,
  );
}

/** The same for items whose deadlines are already set: the longest, per wave, plus slack. */
export function itemsDeadlineMs(timeouts: readonly number[], concurrency: number, slackMs: number): number {
  return Math.max(0, ...timeouts) * Math.ceil(timeouts.length / concurrency) + slackMs;
}

/**
 * How batches reach the agent. `stdin` needs the v5 exec subprotocol (Kubernetes 1.30+); on
 * servers that only speak v4 the batch goes as a base64 argument instead. Shared across rounds:
 * the first exec that finds v4 switches the whole run.
 */
export interface Transport {
  mode: 'stdin' | 'argv';
}

/** Linux caps one argument at 128 KiB; base64 grows by 4/3, so a chunk's JSON stays under this. */
export const ARGV_CHUNK_BYTES = 90_000;

/** Splits items into JSON arrays that each fit one argument. */
export function argvChunks(items: readonly unknown[], limit = ARGV_CHUNK_BYTES): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const item of items) {
    const text = JSON.stringify(item);
    if (current.length > 0 && size + text.length + 1 > limit) {
      chunks.push(`[${current.join(',')}]`);
      current = [];
      size = 2;
    }
    current.push(text);
    size += text.length + 1;
  }
  if (current.length > 0) chunks.push(`[${current.join(',')}]`);
  return chunks;
}

export async function runRound(props: RoundProps): Promise<void> {
  const concurrency = props.concurrency ?? DEFAULT_AGENT_CONCURRENCY;
  const slack = props.execSlackMs ?? 20_000;
  const transport = props.transport ?? { mode: 'stdin' };
  const openings = props.openings ?? new OpeningLimit();
  await Promise.all(
    props.batches.map(async (batch) => {
      const pending = new Map(batch.attempts.map((a) => [a.id, a]));
      const malformed: string[] = [];
      const take = (line: string) => {
        const result = parseResultLine(line);
        if ('malformed' in result) {
          // Attributed to no attempt: whatever stays pending is reported with this reason.
          malformed.push(result.malformed);
          return;
        }
        if (!pending.delete(result.id)) return;
        props.observe({
          attempt: result.id,
          outcome: result.outcome,
          reason: result.reason ?? '',
          evidence: result.evidence,
        });
      };
      const items = batch.attempts.map((a) =>
        toBatchItem(a, props.scenario, props.deadlines?.get(a.id) ?? a.timeoutMs),
      );
      const exec = async (
        input: { stdin: string } | { argv: string },
      ): Promise<{ failure?: string; stderr: string }> => {
        const splitter = new LineSplitter();
        let release: (() => void) | undefined;
        try {
          release = await openings.acquire(props.signal);
          const result = await execInPod(props.kubeConfig, {
            namespace: batch.namespace,
            pod: batch.pod,
            container: AGENT_CONTAINER,
            command:
              'argv' in input
                ? [...probeCommand(concurrency), '--batch', Buffer.from(input.argv).toString('base64')]
                : probeCommand(concurrency),
            ...('stdin' in input ? { stdin: input.stdin } : {}),
            timeoutMs: batchDeadlineMs(batch.attempts, concurrency, slack, props.deadlines),
            onStdout: (chunk) => {
              for (const line of splitter.push(chunk.toString('utf8'))) take(line);
            },
            onOpen: release,
            ...(props.signal ? { signal: props.signal } : {}),
          });
          for (const line of splitter.flush()) take(line);
          return result.exitCode === 0
            ? { stderr: result.stderr }
            : { failure: `the agent exited with code ${result.exitCode}`, stderr: result.stderr };
        } catch (error) {
          for (const line of splitter.flush()) take(line);
          if (error instanceof ExecError && error.failure === 'stdin-unsupported') throw error;
          return {
            failure: messageOf(error),
            stderr: error instanceof ExecError ? error.stderr : '',
          };
        } finally {
          release?.();
        }
      };
      let outcome: { failure?: string; stderr: string } = { stderr: '' };
      if (transport.mode === 'stdin') {
        try {
          outcome = await exec({ stdin: JSON.stringify(items) });
        } catch {
          // The server speaks only v4: from now on, batches go as arguments.
          transport.mode = 'argv';
        }
      }
      if (transport.mode === 'argv') {
        const failures: string[] = [];
        let stderr = '';
        for (const chunk of argvChunks(items)) {
          const r = await exec({ argv: chunk });
          if (r.failure) failures.push(r.failure);
          stderr += r.stderr;
        }
        outcome = { ...(failures.length ? { failure: failures.join('; ') } : {}), stderr };
      }
      const { failure, stderr } = outcome;
      const why = [
        failure,
        ...malformed.slice(0, 3),
        stderr.trim() ? `stderr: ${stderr.trim().slice(-500)}` : undefined,
      ]
        .filter(Boolean)
        .join('; ');
      for (const attempt of pending.values()) {
        props.observe({
          attempt: attempt.id,
          outcome: 'error',
          reason: `no result from the agent in ${batch.namespace}/${batch.pod}${why ? `: ${why}` : ''}`,
          evidence: {
            exec: {
              pod: `${batch.namespace}/${batch.pod}`,
              failure: failure ?? 'no result line',
              stderr: stderr.slice(-2000),
            },
          },
        });
      }
    }),
  );
}
