/**
 * Calico's selector language: `k == 'v'`, `k != 'v'`, `k in {'a','b'}`, `k not in {...}`,
 * `has(k)`, `!`, `&&`, `||`, parentheses, `all()`, `global()`, and the string operators
 * `contains`, `starts with`, `ends with`. Parsed once to a syntax tree (which lint reads: which
 * keys a selector tests, and how) and compiled from it to a function over a label map.
 *
 * Semantics (tigera docs, "Selectors"): `!=` and `not in` also match resources WITHOUT the label;
 * `==`, `in` and the string operators need it. Label values are literals in single or double
 * quotes; an unquoted `${tenant}` is not an identifier, so Calico rejects the selector (it does
 * no templating), while a quoted `'${tenant}'` is a literal that no label value can equal.
 */
import type { Labels } from './labels.js';
import { NotUnderstood } from './read.js';
import { MAYBE, NO, YES, triAnd, triNot, triOr, type Tri } from './types.js';

export type SelectorMatcher = (labels: Labels) => boolean;

/** How a term tests its label. */
export type SelectorTest = 'has' | '==' | '!=' | 'in' | 'not in' | 'contains' | 'starts with' | 'ends with';

/** One test of one label: `has(k)`, `k == 'v'`, `k not in {'a','b'}`, `k starts with 'v'`. */
export interface SelectorTerm {
  readonly kind: 'term';
  readonly key: string;
  readonly test: SelectorTest;
  /** The value(s) compared with (none for `has`). */
  readonly values: readonly string[];
}

/** A parsed Calico selector. */
export type SelectorNode =
  | SelectorTerm
  | { readonly kind: 'all' }
  | { readonly kind: 'global' }
  | { readonly kind: 'not'; readonly operand: SelectorNode }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly SelectorNode[] };

export interface CompiledSelector {
  readonly match: SelectorMatcher;
  /** `all()` or the empty selector: lets callers skip work. */
  readonly all: boolean;
  /** Whether it uses `global()` (matches only non-namespaced resources such as GlobalNetworkSets). */
  readonly global: boolean;
  /** The syntax tree it was compiled from. */
  readonly ast: SelectorNode;
}

type Token =
  | { readonly t: 'ident'; readonly v: string; readonly at: number }
  | { readonly t: 'string'; readonly v: string; readonly at: number }
  | { readonly t: 'op'; readonly v: string; readonly at: number };

const IDENT = /[A-Za-z0-9_./-]/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '&&' || two === '||' || two === '==' || two === '!=') {
      tokens.push({ t: 'op', v: two, at: i });
      i += 2;
      continue;
    }
    if ('!(){},'.includes(c)) {
      tokens.push({ t: 'op', v: c, at: i });
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new NotUnderstood(`unterminated string at character ${i + 1}`);
      tokens.push({ t: 'string', v: text.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    if (IDENT.test(c)) {
      let j = i;
      while (j < text.length && IDENT.test(text.charAt(j))) j++;
      tokens.push({ t: 'ident', v: text.slice(i, j), at: i });
      i = j;
      continue;
    }
    throw new NotUnderstood(`unexpected '${c}' at character ${i + 1} (Calico rejects the selector)`);
  }
  return tokens;
}

class Parser {
  private pos = 0;
  private readonly tokens: readonly Token[];

  constructor(tokens: readonly Token[]) {
    this.tokens = tokens;
  }

  parse(): SelectorNode {
    const node = this.or();
    const extra = this.tokens[this.pos];
    if (extra) throw new NotUnderstood(`unexpected '${extra.v}' at character ${extra.at + 1}`);
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private isOp(v: string): boolean {
    const t = this.peek();
    return t?.t === 'op' && t.v === v;
  }

  private isWord(v: string, offset = 0): boolean {
    const t = this.tokens[this.pos + offset];
    return t?.t === 'ident' && t.v === v;
  }

  private expectOp(v: string): void {
    if (!this.isOp(v)) throw this.error(`expected '${v}'`);
    this.pos++;
  }

  private error(message: string): NotUnderstood {
    const t = this.peek();
    return new NotUnderstood(t ? `${message} at character ${t.at + 1}` : `${message} at the end`);
  }

  private or(): SelectorNode {
    const operands = [this.and()];
    while (this.isOp('||')) {
      this.pos++;
      operands.push(this.and());
    }
    return operands.length === 1 ? (operands[0] as SelectorNode) : { kind: 'or', operands };
  }

  private and(): SelectorNode {
    const operands = [this.unary()];
    while (this.isOp('&&')) {
      this.pos++;
      operands.push(this.unary());
    }
    return operands.length === 1 ? (operands[0] as SelectorNode) : { kind: 'and', operands };
  }

  private unary(): SelectorNode {
    if (this.isOp('!')) {
      this.pos++;
      return { kind: 'not', operand: this.unary() };
    }
    if (this.isOp('(')) {
      this.pos++;
      const inner = this.or();
      this.expectOp(')');
      return inner;
    }
    return this.term();
  }

  private term(): SelectorNode {
    const t = this.peek();
    if (t?.t !== 'ident') throw this.error('expected a label name, has(), all() or global()');
    if ((t.v === 'all' || t.v === 'global' || t.v === 'has') && this.tokens[this.pos + 1]?.v === '(') {
      this.pos += 2;
      if (t.v === 'has') {
        const key = this.peek();
        if (key?.t !== 'ident') throw this.error('expected a label name in has()');
        this.pos++;
        this.expectOp(')');
        return { kind: 'term', key: key.v, test: 'has', values: [] };
      }
      this.expectOp(')');
      return { kind: t.v };
    }
    const key = t.v;
    this.pos++;
    if (this.isOp('==') || this.isOp('!=')) {
      const test = (this.peek() as Token).v as '==' | '!=';
      this.pos++;
      return { kind: 'term', key, test, values: [this.literal()] };
    }
    if (this.isWord('in') || (this.isWord('not') && this.isWord('in', 1))) {
      const negate = this.isWord('not');
      this.pos += negate ? 2 : 1;
      return { kind: 'term', key, test: negate ? 'not in' : 'in', values: this.set() };
    }
    if (this.isWord('contains')) {
      this.pos++;
      return { kind: 'term', key, test: 'contains', values: [this.literal()] };
    }
    if ((this.isWord('starts') || this.isWord('ends')) && this.isWord('with', 1)) {
      const test = this.isWord('starts') ? 'starts with' : 'ends with';
      this.pos += 2;
      return { kind: 'term', key, test, values: [this.literal()] };
    }
    throw this.error(`expected an operator after '${key}'`);
  }

  private literal(): string {
    const t = this.peek();
    if (t?.t !== 'string') throw this.error('expected a quoted value');
    this.pos++;
    return t.v;
  }

  private set(): string[] {
    this.expectOp('{');
    const values: string[] = [];
    if (this.isOp('}')) {
      this.pos++;
      return values;
    }
    values.push(this.literal());
    while (this.isOp(',')) {
      this.pos++;
      values.push(this.literal());
    }
    this.expectOp('}');
    return values;
  }
}

/**
 * Parses a Calico selector; the empty string is `all()`. Throws {@link NotUnderstood} with the
 * character position for a selector Calico would reject.
 */
export function parseCalicoSelector(text: string): SelectorNode {
  return text.trim() === '' ? { kind: 'all' } : new Parser(tokenize(text)).parse();
}

function compileNode(node: SelectorNode): SelectorMatcher {
  switch (node.kind) {
    case 'all':
      return () => true;
    case 'global':
      // Every endpoint the model knows is namespaced (pods) or a host; none is "global".
      return () => false;
    case 'not': {
      const inner = compileNode(node.operand);
      return (l) => !inner(l);
    }
    case 'and': {
      const parts = node.operands.map(compileNode);
      return (l) => parts.every((p) => p(l));
    }
    case 'or': {
      const parts = node.operands.map(compileNode);
      return (l) => parts.some((p) => p(l));
    }
    case 'term':
      return compileTerm(node);
  }
}

function compileTerm({ key, test, values }: SelectorTerm): SelectorMatcher {
  const value = values[0] ?? '';
  switch (test) {
    case 'has':
      return (l) => key in l;
    case '==':
      return (l) => l[key] === value;
    case '!=':
      return (l) => l[key] !== value;
    case 'in': {
      const set = new Set(values);
      return (l) => key in l && set.has(l[key] ?? '');
    }
    case 'not in': {
      const set = new Set(values);
      return (l) => !(key in l) || !set.has(l[key] ?? '');
    }
    case 'contains':
      return (l) => key in l && (l[key] ?? '').includes(value);
    case 'starts with':
      return (l) => key in l && (l[key] ?? '').startsWith(value);
    case 'ends with':
      return (l) => key in l && (l[key] ?? '').endsWith(value);
  }
}

function usesGlobal(node: SelectorNode): boolean {
  switch (node.kind) {
    case 'global':
      return true;
    case 'not':
      return usesGlobal(node.operand);
    case 'and':
    case 'or':
      return node.operands.some(usesGlobal);
    case 'all':
    case 'term':
    default:
      return false;
  }
}

const cache = new Map<string, CompiledSelector>();

/**
 * Compiles a Calico selector; the empty string selects everything (as `all()`). Throws
 * {@link NotUnderstood} with the character position for a selector Calico would reject.
 * Compiled selectors are shared: a bundle repeats the same text per tenant.
 */
export function compileCalicoSelector(text: string): CompiledSelector {
  const hit = cache.get(text);
  if (hit) return hit;
  const ast = parseCalicoSelector(text);
  const compiled: CompiledSelector = {
    match: compileNode(ast),
    all: text.trim() === '' || /^\s*all\(\s*\)\s*$/.test(text),
    global: usesGlobal(ast),
    ast,
  };
  cache.set(text, compiled);
  return compiled;
}

/** A term of a selector, and whether an odd number of `!` stands above it. */
export interface PlacedTerm extends SelectorTerm {
  readonly negated: boolean;
}

/** Every term of the selector, in the order written. */
export function selectorTerms(node: SelectorNode, negated = false): PlacedTerm[] {
  switch (node.kind) {
    case 'term':
      return [{ ...node, negated }];
    case 'not':
      return selectorTerms(node.operand, !negated);
    case 'and':
    case 'or':
      return node.operands.flatMap((o) => selectorTerms(o, negated));
    case 'all':
    case 'global':
    default:
      return [];
  }
}

/**
 * Whether the selector matches an endpoint that lacks every one of `absent`, whatever its other
 * labels: YES (it always does), NO (it never does) or MAYBE (it depends on the other labels).
 * `global()` is NO here too: it matches no pod.
 */
export function matchesWithout(node: SelectorNode, absent: ReadonlySet<string>): Tri {
  switch (node.kind) {
    case 'all':
      return YES;
    case 'global':
      return NO;
    case 'not':
      return triNot(matchesWithout(node.operand, absent));
    case 'and':
      return node.operands.reduce<Tri>((m, o) => triAnd(m, matchesWithout(o, absent)), YES);
    case 'or':
      return node.operands.reduce<Tri>((m, o) => triOr(m, matchesWithout(o, absent)), NO);
    case 'term':
      if (!absent.has(node.key)) return MAYBE;
      // Without the label only the negative tests hold (tigera docs, "Selectors").
      return node.test === '!=' || node.test === 'not in' ? YES : NO;
  }
}

/**
 * Label keys Calico itself puts on endpoints for selectors: `projectcalico.org/namespace`,
 * `projectcalico.org/name`, `projectcalico.org/orchestrator`, …, and the namespace and service
 * account labels copied as `pcns.<key>` and `pcsa.<key>`.
 */
export function isCalicoBuiltinKey(key: string): boolean {
  return key.startsWith('projectcalico.org/') || key.startsWith('pcns.') || key.startsWith('pcsa.');
}
