/**
 * One agent session per source pod for the whole run: the agent is started once per pod
 * (`bulkhead-agent session`, one exec kept open) and each round's batch for that pod is one line
 * on its stdin; results stream back tagged with the batch, and an end-of-batch line closes it
 * (the protocol: harness/agent/session.ts). A round then costs no exec and no Node start.
 *
 * Sessions open lazily, at most `execConcurrency` at once (harness/run/execute.ts OpeningLimit):
 * with the network canary's first dial ({@link AgentSessions.probe}), which the rounds then reuse,
 * or without a canary with an empty batch while the barriers wait (harness/run/runner.ts).
 * A session that breaks (the exec closed, the agent died, no end of batch by the batch's
 * deadline) leaves its batch's unfinished attempts `error`, with the reason, never a deny, and
 * is started again for the pod's next batch. When that restart loses attempts too (it cannot
 * open, or breaks before every attempt of its batch has a result), the pod is given up: its
 * attempts are `error` for the rest of the run. A session that ends having lost nothing (between
 * batches, or after its batch's last result) is simply started again. Where the
 * API server cannot half-close stdin (v4 exec) there are no sessions: every round goes through
 * `runRound`, one exec per pod per round with the batch as an argument (the per-round mode).
 */
import type { KubeConfig } from '@kubernetes/client-node';

import type { BatchItem } from '../agent/batch.js';
import { toBatchItem, type AttemptScenario } from '../agent/from-attempt.js';
import { ExecError, openExecStream, type ExecStream, type ExecStreamEnd } from '../kube/exec.js';
import { messageOf } from '../values.js';
import { LineSplitter, parseSessionLine, type BatchEndLine } from './agent-output.js';
import {
  batchDeadlineMs,
  DEFAULT_AGENT_CONCURRENCY,
  itemsDeadlineMs,
  OpeningLimit,
  runRound,
  type RoundObservation,
  type SourceBatch,
  type Transport,
} from './execute.js';
import { AGENT_CONTAINER, agentCommand } from './fixtures.js';

export interface AgentSessionsProps {
  readonly kubeConfig: KubeConfig;
  readonly scenario: AttemptScenario;
  /**
   * Attempts the agent runs at once in one pod.
   * @default 64
   */
  readonly concurrency?: number;
  /** Extra time over a batch's own deadlines, for exec set-up and Node start. @default 20000 */
  readonly execSlackMs?: number;
  /**
   * Exec sessions opening at once (until their WebSocket is open).
   * @default 32
   */
  readonly execConcurrency?: number;
  /** How long {@link AgentSessions.close} waits for an agent to exit once its input ended. @default 5000 */
  readonly closeTimeoutMs?: number;
  /** Ctrl-C: every session and every opening ends at once. */
  readonly signal?: AbortSignal;
  /** How batches reach the agent; set to `argv` (the per-round mode) when the server speaks only v4. */
  readonly transport?: Transport;
}

export interface SessionRound {
  readonly batches: readonly SourceBatch[];
  /** Receives each observation the moment it is known. */
  readonly observe: (o: RoundObservation) => void;
  /** Attempt id → the deadline the agent gets, where the run lengthened it (as for runRound). */
  readonly deadlines?: ReadonlyMap<string, number>;
}

/** The command that starts a session in a source pod. */
export function sessionCommand(concurrency: number): string[] {
  return agentCommand('session', ['--concurrency', String(concurrency)]);
}

/**
 * Agent items for one pod outside the scenario's attempts, each with an id of its own: the
 * network canary's dial (harness/run/canary.ts), so that the barrier and the rounds share the
 * pod's one session instead of an exec and a Node start per pod per canary round.
 */
export interface PodItems {
  readonly namespace: string;
  readonly pod: string;
  readonly items: readonly BatchItem[];
}

/** The batch on a session, until its end line, the session's end or its deadline. */
interface InFlight {
  readonly id: string;
  /** Ids of the items without a result yet. */
  readonly pending: Set<string>;
  readonly malformed: string[];
  readonly observe: (o: RoundObservation) => void;
  readonly finish: (outcome: BatchOutcome) => void;
}

type BatchOutcome =
  | { readonly end: BatchEndLine }
  | { readonly failure: string; readonly stderr: string; readonly deadline?: true };

interface PodSession {
  readonly namespace: string;
  readonly pod: string;
  /** The open session, if any. */
  stream?: ExecStream;
  /** Identifies the stream whose output counts; an older stream's late lines are dropped. */
  generation?: object;
  current?: InFlight;
  /**
   * Batches in a row that lost attempts to a broken session: after 1 the next batch restarts
   * it, at 2 the pod is given up. A batch whose every attempt had its result resets it.
   */
  breaks: number;
  lastBreak?: string;
  /** Set once the restart failed too: the reason every later attempt of the pod is `error`. */
  givenUp?: string;
  /** Sessions started in this pod. */
  starts: number;
  /** How the last session ended while no batch was on it. */
  idleEnd?: { readonly failure: string; readonly stderr: string };
}

export class AgentSessions {
  private readonly props: AgentSessionsProps;
  private readonly pods = new Map<string, PodSession>();
  private readonly openings: OpeningLimit;
  private readonly transport: Transport;
  private readonly concurrency: number;
  private readonly slack: number;
  private nextBatch = 1;
  private closed = false;

  constructor(props: AgentSessionsProps) {
    this.props = props;
    this.openings = new OpeningLimit(props.execConcurrency);
    this.transport = props.transport ?? { mode: 'stdin' };
    this.concurrency = props.concurrency ?? DEFAULT_AGENT_CONCURRENCY;
    this.slack = props.execSlackMs ?? 20_000;
  }

  /** `persistent` while sessions carry the batches; `per-round` once the server turned out to speak only v4. */
  get mode(): 'persistent' | 'per-round' {
    return this.transport.mode === 'argv' ? 'per-round' : 'persistent';
  }

  /** Runs one round: each pod's batch on its session, pods in parallel. */
  async round(round: SessionRound): Promise<void> {
    await Promise.all(round.batches.map((batch) => this.batch(batch, round)));
  }

  /**
   * Ends every session: stdin closes and each agent exits once idle (after `closeTimeoutMs`, or
   * at once when the run was aborted, the connection is closed instead). Later rounds run nothing.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pods.values()].map((session) => this.end(session)));
  }

  /**
   * Ends the sessions of every pod not in `keep` (`namespace/pod`), as {@link close} does, and
   * leaves the others open: after the barrier, the pods that only dialled the canary (a
   * destination's echo pod) need theirs no more. Such a pod may still open one again.
   */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    await Promise.all(
      [...this.pods.entries()].filter(([key]) => !keep.has(key)).map(([, session]) => this.end(session)),
    );
  }

  /** Ends one session: its input closes and the agent exits once idle (or it is closed). */
  private async end(session: PodSession): Promise<void> {
    const aborted = this.props.signal?.aborted ?? false;
    const wait = this.props.closeTimeoutMs ?? 5000;
    const stream = session.stream;
    if (!stream) return;
    session.stream = undefined;
    session.generation = undefined;
    if (aborted || session.current) stream.close();
    else stream.endInput();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      stream.done,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          stream.close();
          resolve();
        }, wait);
      }),
    ]);
    clearTimeout(timer);
    await stream.done;
  }

  private session(batch: { readonly namespace: string; readonly pod: string }): PodSession {
    const key = `${batch.namespace}/${batch.pod}`;
    let session = this.pods.get(key);
    if (!session) {
      session = { namespace: batch.namespace, pod: batch.pod, breaks: 0, starts: 0 };
      this.pods.set(key, session);
    }
    return session;
  }

  private perRound(batch: SourceBatch, round: SessionRound): Promise<void> {
    return runRound({
      kubeConfig: this.props.kubeConfig,
      scenario: this.props.scenario,
      batches: [batch],
      observe: round.observe,
      concurrency: this.concurrency,
      execSlackMs: this.slack,
      transport: this.transport,
      openings: this.openings,
      ...(round.deadlines ? { deadlines: round.deadlines } : {}),
      ...(this.props.signal ? { signal: this.props.signal } : {}),
    });
  }

  /**
   * Runs `items` on the pod's session, opening it if need be, outside any round. `unsupported`
   * when the server speaks only v4 exec (no sessions): the caller dials its own way. Items the
   * session loses are observed `error` with the reason, as in a round.
   */
  async probe(target: PodItems, observe: (o: RoundObservation) => void): Promise<'sent' | 'unsupported'> {
    if (this.transport.mode === 'argv') return 'unsupported';
    const deadlineMs = itemsDeadlineMs(
      target.items.map((i) => i.timeoutMs),
      this.concurrency,
      this.slack,
    );
    const sent = await this.send(target, target.items, observe, deadlineMs);
    return sent === 'fallback' ? 'unsupported' : 'sent';
  }

  private async batch(batch: SourceBatch, round: SessionRound): Promise<void> {
    if (this.transport.mode === 'argv') {
      await this.perRound(batch, round);
      return;
    }
    const deadlineMs = batchDeadlineMs(batch.attempts, this.concurrency, this.slack, round.deadlines);
    const items = batch.attempts.map((a) =>
      toBatchItem(a, this.props.scenario, round.deadlines?.get(a.id) ?? a.timeoutMs),
    );
    if ((await this.send(batch, items, round.observe, deadlineMs)) === 'fallback')
      await this.perRound(batch, round);
  }

  /** One batch of items on the pod's session; `fallback` when the server turned out to speak only v4. */
  private async send(
    target: { readonly namespace: string; readonly pod: string },
    items: readonly BatchItem[],
    observe: (o: RoundObservation) => void,
    deadlineMs: number,
  ): Promise<'sent' | 'fallback'> {
    const session = this.session(target);
    const where = `${target.namespace}/${target.pod}`;
    const pending = new Set(items.map((i) => i.id));
    const fail = (reason: string, failure: string, stderr: string, id?: string) => {
      for (const attempt of pending)
        observe({
          attempt,
          outcome: 'error',
          reason,
          evidence: {
            exec: { pod: where, failure, stderr: stderr.slice(-2000) },
            session: { starts: session.starts, ...(id ? { batch: id } : {}) },
          },
        });
      pending.clear();
    };
    if (session.givenUp) {
      fail(session.givenUp, 'session given up', '');
      return 'sent';
    }
    if (this.closed || this.props.signal?.aborted) {
      fail(`the agent session in ${where} was not started: the run is ending`, 'aborted', '');
      return 'sent';
    }
    let since = Date.now();
    if (!session.stream) {
      const opened = await this.start(session, deadlineMs);
      if ('fallback' in opened) return 'fallback';
      if ('failure' in opened) {
        fail(
          `the agent session in ${where} could not start: ${opened.failure}`,
          opened.failure,
          opened.stderr,
        );
        this.broke(session, opened.failure);
        return 'sent';
      }
      since = opened.since;
    }
    const stream = session.stream;
    if (!stream) {
      // It ended as soon as it opened.
      const end = session.idleEnd ?? { failure: 'the session ended', stderr: '' };
      const stderr = end.stderr.trim();
      fail(
        `the agent session in ${where} ended before its batch was sent: ${end.failure}${stderr ? `; stderr: ${stderr.slice(-500)}` : ''}`,
        end.failure,
        end.stderr,
      );
      this.broke(session, end.failure);
      return 'sent';
    }
    const id = String(this.nextBatch++);
    const malformed: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    const outcome = await new Promise<BatchOutcome>((resolve) => {
      session.current = { id, pending, malformed, observe, finish: resolve };
      timer = setTimeout(
        () => {
          resolve({ failure: `no end of batch within ${deadlineMs} ms`, stderr: '', deadline: true });
        },
        Math.max(0, deadlineMs - (Date.now() - since)),
      );
      stream.write(JSON.stringify({ batch: id, attempts: items }) + '\n');
    });
    clearTimeout(timer);
    session.current = undefined;
    const notes = malformed.slice(0, 3);
    if ('end' in outcome) {
      session.breaks = 0;
      session.lastBreak = undefined;
      const why = [outcome.end.problem, ...notes].filter(Boolean).join('; ');
      fail(
        `the agent in ${where} ended batch ${id} without a result for this attempt${why ? `: ${why}` : ''}`,
        outcome.end.problem ?? 'no result line',
        '',
        id,
      );
      return 'sent';
    }
    if (outcome.deadline && session.stream === stream) {
      session.stream = undefined;
      session.generation = undefined;
      stream.close();
    }
    if (pending.size === 0) {
      // Every attempt had its result: nothing was lost, the next batch starts a new session.
      session.breaks = 0;
      session.lastBreak = undefined;
      return 'sent';
    }
    const stderr = outcome.stderr.trim();
    const why = [outcome.failure, ...notes, stderr ? `stderr: ${stderr.slice(-500)}` : undefined]
      .filter(Boolean)
      .join('; ');
    fail(`the agent session in ${where} ended mid-batch: ${why}`, outcome.failure, outcome.stderr, id);
    this.broke(session, outcome.failure);
    return 'sent';
  }

  /** Opens the pod's session, waiting for an opening slot first. */
  private async start(
    session: PodSession,
    connectTimeoutMs: number,
  ): Promise<{ since: number } | { fallback: true } | { failure: string; stderr: string }> {
    let release: (() => void) | undefined;
    try {
      release = await this.openings.acquire(this.props.signal);
    } catch {
      return { failure: 'aborted while waiting to open', stderr: '' };
    }
    const since = Date.now();
    const generation = {};
    session.idleEnd = undefined;
    const lines = new LineSplitter();
    session.starts += 1;
    try {
      const stream = await openExecStream(this.props.kubeConfig, {
        namespace: session.namespace,
        pod: session.pod,
        container: AGENT_CONTAINER,
        command: sessionCommand(this.concurrency),
        connectTimeoutMs,
        onStdout: (chunk) => {
          if (session.generation !== generation) return;
          for (const line of lines.push(chunk.toString('utf8'))) this.line(session, line);
        },
        ...(this.props.signal ? { signal: this.props.signal } : {}),
      });
      session.stream = stream;
      session.generation = generation;
      void stream.done.then((end) => {
        if (session.generation !== generation) return;
        for (const line of lines.flush()) this.line(session, line);
        this.ended(session, end);
      });
      return { since };
    } catch (error) {
      if (error instanceof ExecError && error.failure === 'stdin-unsupported') {
        // The server speaks only v4: from now on, batches go as arguments, one exec per round.
        this.transport.mode = 'argv';
        return { fallback: true };
      }
      return { failure: messageOf(error), stderr: error instanceof ExecError ? error.stderr : '' };
    } finally {
      release();
    }
  }

  /** One line of a session's output. */
  private line(session: PodSession, text: string): void {
    const current = session.current;
    const parsed = parseSessionLine(text);
    if (!current) return;
    if (parsed.kind === 'malformed') {
      current.malformed.push(parsed.malformed);
      return;
    }
    if (parsed.kind === 'end') {
      if (parsed.end.batch === current.id || parsed.end.batch === null) current.finish({ end: parsed.end });
      else current.malformed.push(`the end of batch ${parsed.end.batch} while batch ${current.id} runs`);
      return;
    }
    if (parsed.batch !== current.id) {
      current.malformed.push(`a result of batch ${parsed.batch} while batch ${current.id} runs`);
      return;
    }
    const { result } = parsed;
    if (!current.pending.delete(result.id)) return;
    current.observe({
      attempt: result.id,
      outcome: result.outcome,
      reason: result.reason ?? '',
      evidence: result.evidence,
    });
  }

  /** The session's exec ended: mid-batch, or between batches. */
  private ended(session: PodSession, end: ExecStreamEnd): void {
    session.stream = undefined;
    session.generation = undefined;
    const failure = end.exitCode === undefined ? end.message : `the agent exited with code ${end.exitCode}`;
    // Between batches nothing is lost: the next batch starts a new session.
    if (session.current) session.current.finish({ failure, stderr: end.stderr });
    else session.idleEnd = { failure, stderr: end.stderr };
  }

  private broke(session: PodSession, why: string): void {
    session.breaks += 1;
    const short = why.length > 300 ? `${why.slice(0, 300)}…` : why;
    if (session.breaks >= 2)
      session.givenUp = `the agent session in ${session.namespace}/${session.pod} broke (${session.lastBreak ?? 'see the round before'}) and its restart failed too (${short}): no attempt from this pod runs again in this run`;
    session.lastBreak = short;
  }
}
