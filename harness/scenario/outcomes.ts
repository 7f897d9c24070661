/**
 * The outcome vocabulary shared by the agent, the model, the runner and the reports
 * (docs/behaviour.md "Outcomes"). An observation or a prediction is one {@link Outcome}; an expectation
 * names outcomes directly or through a {@link OutcomeGroup}.
 */

export const OUTCOMES = [
  'allowed',
  'denied-l7',
  'denied-l4',
  'reset',
  'refused',
  'resolved',
  'nxdomain',
  'api-forbidden',
  'api-allowed',
  'error',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Outcomes an attempt can be expected to have; `error` never satisfies an expectation. */
export const EXPECTABLE_OUTCOMES = OUTCOMES.filter((o) => o !== 'error');

export const OUTCOME_GROUPS = {
  /** Any refusal at any layer: Istio authorization, the network, mTLS, or nothing listening. */
  denied: ['denied-l7', 'denied-l4', 'reset', 'refused'],
} as const satisfies Record<string, readonly Outcome[]>;
export type OutcomeGroup = keyof typeof OUTCOME_GROUPS;

/** What a scenario may write in `expect`: an outcome, a group, or `auto` (take the model's prediction). */
export const EXPECT_WORDS = [
  ...EXPECTABLE_OUTCOMES,
  ...(Object.keys(OUTCOME_GROUPS) as OutcomeGroup[]),
  'auto',
] as const;
export type ExpectWord = (typeof EXPECT_WORDS)[number];

/** A resolved expectation: the words as written and the outcomes they admit (empty for `auto`). */
export interface Expectation {
  readonly words: readonly ExpectWord[];
  readonly outcomes: readonly Outcome[];
  readonly auto: boolean;
}

export function expectation(words: readonly ExpectWord[]): Expectation {
  const outcomes = new Set<Outcome>();
  let auto = false;
  for (const word of words) {
    if (word === 'auto') auto = true;
    else if (word in OUTCOME_GROUPS) for (const o of OUTCOME_GROUPS[word as OutcomeGroup]) outcomes.add(o);
    else outcomes.add(word as Outcome);
  }
  return { words: [...words], outcomes: [...outcomes], auto };
}

/** Renders an expectation the way a person wrote it: `denied`, `denied-l7|reset`, `auto`. */
export function formatExpectation(e: Expectation): string {
  return e.words.join('|');
}

/** True when the observed outcome meets the expectation. `error` never does. */
export function satisfies(e: Expectation, observed: Outcome): boolean {
  if (observed === 'error') return false;
  return e.outcomes.includes(observed);
}

/** Outcomes in which the attempt got through to what it asked for. */
export const GRANTED_OUTCOMES: readonly Outcome[] = ['allowed', 'api-allowed'];

/**
 * A must-deny expectation admits no granting outcome: observing `allowed` (or `api-allowed`)
 * even once after policies are in place is a leak (docs/behaviour.md "Outcomes").
 */
export function isMustDeny(e: Expectation): boolean {
  return !e.auto && e.outcomes.length > 0 && e.outcomes.every((o) => !GRANTED_OUTCOMES.includes(o));
}

/**
 * A must-allow expectation admits only granting outcomes: any refusal is a broken path (what an
 * upgrade check's probe stream counts as disruption).
 */
export function isMustAllow(e: Pick<Expectation, 'outcomes' | 'auto'>): boolean {
  return !e.auto && e.outcomes.length > 0 && e.outcomes.every((o) => GRANTED_OUTCOMES.includes(o));
}

export const ATTEMPT_KINDS = ['http', 'tcp', 'udp', 'dns', 'api'] as const;
export type AttemptKind = (typeof ATTEMPT_KINDS)[number];

/** Which outcomes an attempt of each kind can produce (besides `error`). */
export const OUTCOMES_BY_KIND: Readonly<Record<AttemptKind, readonly Outcome[]>> = {
  http: ['allowed', 'denied-l7', 'denied-l4', 'reset', 'refused'],
  tcp: ['allowed', 'denied-l7', 'denied-l4', 'reset', 'refused'],
  udp: ['allowed', 'denied-l4', 'refused'],
  // A DNS query whose path to the resolver is dropped times out like any other drop.
  dns: ['resolved', 'nxdomain', 'denied-l4', 'refused'],
  // The API server reached through a dropped or reset path fails below HTTP.
  api: ['api-allowed', 'api-forbidden', 'denied-l4', 'reset', 'refused'],
};

/** The categories attempts are grouped by in suites and reports. */
export const CATEGORIES = [
  'cross-tenant',
  'intra-tenant',
  'header-spoof',
  'plaintext',
  'dns-recon',
  'api-token',
  'shared-services',
  'node',
  'metadata',
  'egress',
  'pod-ip',
  'gateway',
] as const;
export type Category = (typeof CATEGORIES)[number];
