/**
 * `reports/<run>/results.jsonl`: one JSON object per line, appended as things happen, so a
 * crash or Ctrl-C loses nothing already observed. This is the contract the reports build on.
 *
 * Line types: `run` (first: run id, scenario, start), `facts` (what the run read about the
 * cluster, each value with its source and reasoning: harness/run/cluster-facts.ts), `footing`
 * (what was read back and checked before any attempt: harness/run/footing.ts), `observation`
 * (one per attempt per round), `result` (one per attempt, when judged), `end` (last: exit code
 * and totals).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export const RESULTS_SCHEMA_VERSION = 1;

export type ResultsLine =
  | {
      readonly type: 'run';
      readonly runId: string;
      readonly scenario: string;
      readonly scenarioSha256: string;
      readonly startedAt: string;
      readonly [key: string]: unknown;
    }
  | {
      readonly type: 'facts';
      readonly [key: string]: unknown;
    }
  | {
      readonly type: 'footing';
      readonly readBack: { readonly fixtures: number; readonly policies: number };
      readonly sidecars: { readonly pods: number; readonly withProxy: number };
    }
  | {
      readonly type: 'observation';
      readonly attempt: string;
      readonly round: number;
      readonly outcome: string;
      readonly at: string;
      readonly reason?: string;
      readonly evidence?: unknown;
    }
  | {
      readonly type: 'result';
      readonly attempt: string;
      readonly verdict: string;
      readonly [key: string]: unknown;
    }
  | {
      readonly type: 'end';
      readonly exitCode: number;
      readonly endedAt: string;
      readonly [key: string]: unknown;
    };

export class ResultsLog {
  readonly file: string;

  constructor(directory: string) {
    mkdirSync(directory, { recursive: true });
    this.file = path.join(directory, 'results.jsonl');
  }

  /** Appends one line synchronously: when this returns, the line is in the file. */
  append(line: ResultsLine): void {
    appendFileSync(this.file, JSON.stringify({ v: RESULTS_SCHEMA_VERSION, ...line }) + '\n');
  }
}
