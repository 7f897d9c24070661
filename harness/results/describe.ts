/**
 * The words every report uses for one attempt: a failure message (expected, observed, layer,
 * why) and a short evidence transcript, and how a run's attempts are counted. JUnit, the chai
 * assertions and the HTML report share them, so a failure reads the same wherever it is seen.
 */
import { LAYER_NAMES } from './layers.js';
import type { AttemptEntry, ReportVerdict, ResultsDocument } from './results-model.js';

/**
 * An attempt's verdict as the reports count it. `not-judged`: an attempt of an interrupted run
 * that never settled (its outcome was not the same in enough consecutive rounds before the run
 * stopped): neither passed nor failed. results.json says so itself; a document written before it
 * did (a `pass` with `stable: false` of an interrupted run) is read the same way. A failure stays
 * a failure: what was seen did not meet the expectation, and a leak is final whatever follows.
 */
export type ShownVerdict = ReportVerdict;

export function shownVerdict(
  a: Pick<AttemptEntry, 'verdict' | 'stable'>,
  run: Pick<ResultsDocument['run'], 'interrupted'>,
): ShownVerdict {
  return run.interrupted && a.verdict === 'pass' && !a.stable ? 'not-judged' : a.verdict;
}

/** `1 error`, `2 errors`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A run's attempts as the reports count them, and whether the run tested everything it meant to. */
export interface Tally {
  readonly attempts: number;
  readonly passed: number;
  readonly failed: number;
  readonly errors: number;
  readonly notAttempted: number;
  /** Attempts of an interrupted run that never settled: not judged. */
  readonly notJudged: number;
  readonly leaks: number;
  /** Why the run did not test everything it meant to, in words: attempts not made or not settled, an interruption, a fault. */
  readonly incomplete: readonly string[];
  /** At least one attempt, and nothing in `incomplete`: a run whose passes can add up to a PASS. */
  readonly complete: boolean;
}

export function tally(doc: Pick<ResultsDocument, 'attempts' | 'run'>): Tally {
  const count = (v: ShownVerdict) => doc.attempts.filter((a) => shownVerdict(a, doc.run) === v).length;
  const t = {
    attempts: doc.attempts.length,
    passed: count('pass'),
    failed: count('fail'),
    errors: count('error'),
    notAttempted: count('skipped'),
    notJudged: count('not-judged'),
    leaks: doc.attempts.filter((a) => a.leak).length,
  };
  const incomplete = [
    ...(t.notAttempted > 0 ? [`${t.notAttempted} not attempted`] : []),
    ...(doc.run.interrupted ? ['the run was interrupted'] : []),
    ...(t.notJudged > 0
      ? [`${t.notJudged} observed but never settled (not judged, not counted as passed)`]
      : []),
    ...(doc.run.fault ? [`a fault stopped it: ${doc.run.fault}`] : []),
  ];
  return { ...t, incomplete, complete: t.attempts > 0 && incomplete.length === 0 };
}

/** `3 passed · 1 failed · 1 error · 0 not attempted` (and what was not judged, when any). */
export function tallyText(t: Tally, separator = ' · '): string {
  return [
    `${t.passed} passed`,
    `${t.failed} failed`,
    plural(t.errors, 'error'),
    `${t.notAttempted} not attempted`,
    ...(t.notJudged > 0 ? [`${t.notJudged} not judged (never settled)`] : []),
  ].join(separator);
}

export type RunVerdictKind = 'pass' | 'fail' | 'incomplete' | 'empty';

/**
 * The run's verdict in one line, as the HTML banner and JUnit's run testcase say it. PASS only
 * when there were attempts, every one was made and judged, and every expectation held; a run
 * with no attempts tested nothing; an interrupted one is INCOMPLETE, with its counts.
 */
export function runVerdict(doc: Pick<ResultsDocument, 'attempts' | 'run'>): {
  readonly kind: RunVerdictKind;
  readonly words: string;
} {
  const t = tally(doc);
  if (t.attempts === 0)
    return { kind: 'empty', words: ['NO ATTEMPTS: nothing was tested', ...t.incomplete].join('; ') };
  const errors = t.errors > 0 ? [`${plural(t.errors, 'attempt')} could not be judged`] : [];
  if (t.failed > 0) {
    const leaks = t.leaks > 0 ? ` (${plural(t.leaks, 'leak')})` : '';
    const rest = t.incomplete.length > 0 ? `; INCOMPLETE: ${[...errors, ...t.incomplete].join('; ')}` : '';
    return {
      kind: 'fail',
      words: `FAIL: ${t.failed} of ${t.attempts} isolation expectations did not hold${leaks}${rest}`,
    };
  }
  if (errors.length > 0 || t.incomplete.length > 0)
    return {
      kind: 'incomplete',
      words: `INCOMPLETE: ${[...errors, ...t.incomplete, `${t.passed} of ${t.attempts} passed`].join('; ')}`,
    };
  return { kind: 'pass', words: `PASS: every one of ${t.attempts} isolation expectations held` };
}

/** Where the outcome was decided, or what happened when nothing refused it, in words. */
export function layerText(
  a: Pick<AttemptEntry, 'layer' | 'outcome'> & Partial<Pick<AttemptEntry, 'kind' | 'verdict'>>,
): string {
  switch (a.outcome) {
    case 'error':
      return a.verdict === 'skipped' ? 'no layer: not attempted' : 'no layer: not judged';
    case 'allowed':
      return a.kind === 'tcp'
        ? 'none: connected'
        : a.kind === 'udp'
          ? 'none: answered'
          : 'none: reached the app';
    case 'resolved':
      return 'none: resolved';
    case 'api-allowed':
      return 'none: the API server granted it';
    case 'denied-l7':
    case 'denied-l4':
    case 'reset':
    case 'refused':
    case 'nxdomain':
    case 'api-forbidden':
      return LAYER_NAMES[a.layer];
  }
}

export function attemptTitle(a: AttemptEntry): string {
  return `${a.id}: ${a.from.namespace}/${a.from.name} -> ${a.target}`;
}

/**
 * The observation the verdict rests on: the leaking round for a leak, otherwise the last one
 * (the one whose evidence results.json keeps).
 */
export function decidingObservation(a: AttemptEntry): AttemptEntry['observations'][number] | undefined {
  return a.leak ? a.observations.find((o) => o.outcome === a.outcome) : a.observations.at(-1);
}

/**
 * The judgement's reason without what the message already says: `leak: expected denied,
 * observed allowed in round 1` after `expected denied, observed allowed` is `in round 1`.
 */
function when(a: AttemptEntry): string {
  for (const said of [
    `leak: expected ${a.expect}, observed ${a.outcome} `,
    `expected ${a.expect}, observed ${a.outcome} `,
    `${a.outcome} `,
  ])
    if (a.reason.startsWith(said) && a.reason.length > said.length) return ` ${a.reason.slice(said.length)}`;
  return ` (${a.reason})`;
}

/** The deciding observation's own reason (what the agent saw), in parentheses, or nothing. */
function cause(a: AttemptEntry): string {
  const why = decidingObservation(a)?.reason;
  return why ? ` (${why})` : '';
}

/**
 * One line: `LEAK: expected denied, observed allowed in round 1 (the server answered 200: ...)`.
 * With the run, a pass of an interrupted run that never settled says it was not judged.
 */
export function verdictMessage(a: AttemptEntry, run?: Pick<ResultsDocument['run'], 'interrupted'>): string {
  const layer = a.layer === 'none' ? '' : ` at ${LAYER_NAMES[a.layer]}`;
  const verdict = run ? shownVerdict(a, run) : a.verdict;
  switch (verdict) {
    case 'pass':
      return `held: expected ${a.expect}, observed ${a.outcome}${layer}${when(a)}`;
    case 'fail':
      return `${a.leak ? 'LEAK: ' : ''}expected ${a.expect}, observed ${a.outcome}${layer}${when(a)}${cause(a)}`;
    case 'error': {
      const why = decidingObservation(a)?.reason;
      return `could not be judged: ${a.reason}${why ? `: ${why}` : ''} (expected ${a.expect})`;
    }
    case 'not-judged':
      return `not judged: the run was interrupted before the outcome settled (expected ${a.expect}, observed ${a.outcome}${layer} in ${plural(a.rounds, 'round')})`;
    case 'skipped':
      return a.reason;
  }
}

const MAX_TEXT = 600;
const EVIDENCE_ORDER = [
  'status',
  'body',
  'errorCode',
  'errorMessage',
  'headers',
  'dns',
  'api',
  'problem',
  'target',
  'address',
  'phase',
];
const clip = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}... (${s.length} chars)` : s);
const valueText = (v: unknown) => clip(typeof v === 'string' ? v : JSON.stringify(v));
const present = (v: unknown) =>
  v !== undefined && v !== null && v !== '' && !(typeof v === 'object' && Object.keys(v).length === 0);

/** The agent's evidence of the deciding observation as `[key, value]` pairs, what decides first. */
export function evidencePairs(evidence: Readonly<Record<string, unknown>> | undefined): [string, string][] {
  if (!evidence) return [];
  // What decides an outcome first (status, body, error), then where and when.
  const rank = (k: string) => {
    const i = EVIDENCE_ORDER.indexOf(k);
    return i < 0 ? EVIDENCE_ORDER.length : i;
  };
  return Object.entries(evidence)
    .sort(([a], [b]) => rank(a) - rank(b))
    .filter(([, v]) => present(v))
    .map(([k, v]) => [k, valueText(v)]);
}

/** The agent's evidence of the deciding observation, as `key: value` lines (no raw secrets are in it). */
export function evidenceLines(evidence: Readonly<Record<string, unknown>> | undefined): string[] {
  return evidencePairs(evidence).map(([k, v]) => `${k}: ${v}`);
}

const POD_FIELDS: readonly (readonly [string, string])[] = [
  ['pod', 'pod'],
  ['unavailable', 'unavailable'],
  ['phase', 'phase'],
  ['conditions', 'conditions'],
  ['containers', 'containers'],
  ['events', 'events'],
  ['proxyLog', 'istio-proxy log'],
];

/**
 * A pod of the diagnostics as labelled values (pod, phase, conditions, containers, events, the
 * istio-proxy log), for a definition list or an indented transcript; an empty list reads `none`.
 */
export function podFields(pod: Readonly<Record<string, unknown>>): [string, string][] {
  const known = new Set(POD_FIELDS.map(([k]) => k));
  const shown = (v: unknown, list: string) =>
    Array.isArray(v)
      ? v.length === 0
        ? 'none'
        : v.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join(list)
      : v === ''
        ? 'empty'
        : typeof v === 'string'
          ? v
          : JSON.stringify(v);
  return [
    ...POD_FIELDS.filter(([k]) => pod[k] !== undefined).map(([k, label]): [string, string] => [
      label,
      shown(pod[k], k === 'conditions' ? ', ' : '; '),
    ]),
    ...Object.entries(pod)
      .filter(([k, v]) => !known.has(k) && v !== undefined)
      .map(([k, v]): [string, string] => [k, shown(v, '; ')]),
  ];
}

/** The verdict as one word, `not judged` for a pass of an interrupted run that never settled. */
export function verdictWord(v: ShownVerdict): string {
  return v === 'not-judged' ? 'not judged' : v === 'skipped' ? 'not attempted' : v;
}

/**
 * The transcript a person reads to check a verdict without rerunning anything. With the run, the
 * verdict is the one the reports count (an interrupted run's unsettled attempt is not judged).
 */
export function evidenceText(a: AttemptEntry, run?: Pick<ResultsDocument['run'], 'interrupted'>): string {
  const why = decidingObservation(a)?.reason;
  const lines = [
    `attempt ${a.id} (${a.kind}, ${a.category})`,
    `from ${a.from.namespace}/${a.from.name} to ${a.target}`,
    `expected ${a.expect}; observed ${a.outcome} (${layerText(a)}); verdict ${verdictWord(run ? shownVerdict(a, run) : a.verdict)}`,
    ...(why ? [`why: ${why}`] : []),
    `rounds: ${a.observations.map((o) => `${o.round}=${o.outcome}`).join(' ') || 'none'}`,
    ...(a.firstObservedAt ? [`first observed ${a.firstObservedAt}, last ${a.lastObservedAt ?? ''}`] : []),
    ...(a.prediction ? [`model predicted ${a.prediction.outcome} (layer ${a.prediction.layer})`] : []),
    ...evidenceLines(a.evidence).map((l) => `evidence ${l}`),
  ];
  const d = a.diagnostics;
  if (d) {
    lines.push(`policies: ${d.policies.join(', ') || 'none'}`, `reproduce: ${d.reproduce}`);
    for (const [side, pod] of [
      ['source', d.source],
      ['destination', d.destination],
    ] as const) {
      if (!pod) continue;
      lines.push(`${side} pod:`);
      for (const [label, value] of podFields(pod))
        lines.push(`  ${label}: ${clip(value).replaceAll('\n', '\n    ')}`);
    }
  }
  return lines.join('\n');
}
