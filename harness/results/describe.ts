/**
 * The words every report uses for one attempt: a failure message (expected, observed, layer,
 * why) and a short evidence transcript. JUnit, the chai assertions and the HTML report share
 * them, so a failure reads the same wherever it is seen.
 */
import { LAYER_NAMES } from './layers.js';
import type { AttemptEntry } from './results-model.js';

/** Where the outcome was decided, in words; an attempt that was not judged has no layer. */
export function layerText(a: Pick<AttemptEntry, 'layer' | 'outcome'>): string {
  return a.outcome === 'error' ? 'no layer: not judged' : LAYER_NAMES[a.layer];
}

export function attemptTitle(a: AttemptEntry): string {
  return `${a.id}: ${a.from.namespace}/${a.from.name} -> ${a.target}`;
}

/** One line: `expected denied, observed allowed (not refused) in 1 of 3 rounds: leak: ...`. */
export function verdictMessage(a: AttemptEntry): string {
  const layer = a.layer === 'none' ? '' : ` at ${LAYER_NAMES[a.layer]}`;
  switch (a.verdict) {
    case 'pass':
      return `held: expected ${a.expect}, observed ${a.outcome}${layer} (${a.reason})`;
    case 'fail':
      return `${a.leak ? 'LEAK: ' : ''}expected ${a.expect}, observed ${a.outcome}${layer} (${a.reason})`;
    case 'error':
      return `could not be judged: ${a.reason} (expected ${a.expect})`;
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

/** The agent's evidence of the deciding observation, as `key: value` lines (no raw secrets are in it). */
export function evidenceLines(evidence: Readonly<Record<string, unknown>> | undefined): string[] {
  if (!evidence) return [];
  // What decides an outcome first (status, body, error), then where and when.
  const rank = (k: string) => {
    const i = EVIDENCE_ORDER.indexOf(k);
    return i < 0 ? EVIDENCE_ORDER.length : i;
  };
  return Object.entries(evidence)
    .sort(([a], [b]) => rank(a) - rank(b))
    .filter(
      ([, v]) =>
        v !== undefined && v !== null && v !== '' && !(typeof v === 'object' && Object.keys(v).length === 0),
    )
    .map(([k, v]) => `${k}: ${clip(typeof v === 'string' ? v : JSON.stringify(v))}`);
}

/** The transcript a person reads to check a verdict without rerunning anything. */
export function evidenceText(a: AttemptEntry): string {
  const lines = [
    `attempt ${a.id} (${a.kind}, ${a.category})`,
    `from ${a.from.namespace}/${a.from.name} to ${a.target}`,
    `expected ${a.expect}; observed ${a.outcome} (${layerText(a)}); verdict ${a.verdict}`,
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
      lines.push(`${side} pod: ${clip(JSON.stringify(pod))}`);
    }
  }
  return lines.join('\n');
}
