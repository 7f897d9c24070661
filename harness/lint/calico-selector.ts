/**
 * The label keys a Calico selector expression tests, and how. Calico selectors are a small
 * language (`tenant in {'a','b'} && has(app)`); reading the keys is enough for the lint rules, so
 * quoted values are blanked out first and the rest is scanned (libcalico-go/lib/selector; the
 * tokenizer accepts identifiers of [a-zA-Z0-9_./-]).
 */

export type SelectorTest = 'has' | '==' | '!=' | 'in' | 'not in' | 'contains' | 'starts with' | 'ends with';

export interface SelectorTerm {
  readonly key: string;
  readonly test: SelectorTest;
  /** Written as `!has(k)`. */
  readonly negated: boolean;
}

const KEY = '[A-Za-z0-9_./-]+';

export function selectorTerms(selector: string): SelectorTerm[] {
  const text = selector.replace(/'[^']*'|"[^"]*"/g, "''");
  const out: SelectorTerm[] = [];
  for (const m of text.matchAll(new RegExp(`(!\\s*)?has\\(\\s*(${KEY})\\s*\\)`, 'g'))) {
    out.push({ key: m[2] ?? '', test: 'has', negated: m[1] !== undefined });
  }
  const ops = /(==|!=|not\s+in\b|\bin\b|\bcontains\b|\bstarts\s+with\b|\bends\s+with\b)/.source;
  for (const m of text.matchAll(new RegExp(`(${KEY})\\s*${ops}`, 'g'))) {
    const key = m[1] ?? '';
    if (key === 'has' || key === 'all' || key === 'global') continue;
    const test = (m[2] ?? '').replace(/\s+/g, ' ') as SelectorTest;
    out.push({ key, test, negated: false });
  }
  return out;
}

/** Keys Calico sets on every endpoint itself (`projectcalico.org/namespace`, …). */
export function isCalicoBuiltinKey(key: string): boolean {
  return key.startsWith('projectcalico.org/') || key.startsWith('pcns.') || key.startsWith('pcsa.');
}
