/**
 * Calico's selector language: `k == 'v'`, `k != 'v'`, `k in {'a','b'}`, `k not in {...}`,
 * `has(k)`, `!`, `&&`, `||`, parentheses, `all()`, `global()`, and the string operators
 * `contains`, `starts with`, `ends with`. Compiled once to a function over a label map.
 *
 * Semantics (tigera docs, "Selectors"): `!=` and `not in` also match resources WITHOUT the label;
 * `==`, `in` and the string operators need it. Label values are literals in single or double
 * quotes; an unquoted `${tenant}` is not an identifier, so Calico rejects the selector (it does
 * no templating), while a quoted `'${tenant}'` is a literal that no label value can equal.
 */
import type { Labels } from './labels.js';
import { NotUnderstood } from './read.js';

export type SelectorMatcher = (labels: Labels) => boolean;

export interface CompiledSelector {
  readonly match: SelectorMatcher;
  /** `all()` or the empty selector: lets callers skip work. */
  readonly all: boolean;
  /** Whether it uses `global()` (matches only non-namespaced resources such as GlobalNetworkSets). */
  readonly global: boolean;
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
  usesGlobal = false;
  private readonly tokens: readonly Token[];

  constructor(tokens: readonly Token[]) {
    this.tokens = tokens;
  }

  parse(): SelectorMatcher {
    const m = this.or();
    const extra = this.tokens[this.pos];
    if (extra) throw new NotUnderstood(`unexpected '${extra.v}' at character ${extra.at + 1}`);
    return m;
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

  private or(): SelectorMatcher {
    const parts = [this.and()];
    while (this.isOp('||')) {
      this.pos++;
      parts.push(this.and());
    }
    return parts.length === 1 ? (parts[0] as SelectorMatcher) : (l) => parts.some((p) => p(l));
  }

  private and(): SelectorMatcher {
    const parts = [this.unary()];
    while (this.isOp('&&')) {
      this.pos++;
      parts.push(this.unary());
    }
    return parts.length === 1 ? (parts[0] as SelectorMatcher) : (l) => parts.every((p) => p(l));
  }

  private unary(): SelectorMatcher {
    if (this.isOp('!')) {
      this.pos++;
      const inner = this.unary();
      return (l) => !inner(l);
    }
    if (this.isOp('(')) {
      this.pos++;
      const inner = this.or();
      this.expectOp(')');
      return inner;
    }
    return this.term();
  }

  private term(): SelectorMatcher {
    const t = this.peek();
    if (t?.t !== 'ident') throw this.error('expected a label name, has(), all() or global()');
    if ((t.v === 'all' || t.v === 'global' || t.v === 'has') && this.tokens[this.pos + 1]?.v === '(') {
      this.pos += 2;
      if (t.v === 'has') {
        const key = this.peek();
        if (key?.t !== 'ident') throw this.error('expected a label name in has()');
        this.pos++;
        this.expectOp(')');
        return (l) => key.v in l;
      }
      this.expectOp(')');
      if (t.v === 'all') return () => true;
      this.usesGlobal = true;
      // Every endpoint the model knows is namespaced (pods) or a host; none is "global".
      return () => false;
    }
    const key = t.v;
    this.pos++;
    if (this.isOp('==') || this.isOp('!=')) {
      const op = (this.peek() as Token).v;
      this.pos++;
      const value = this.literal();
      return op === '==' ? (l) => l[key] === value : (l) => l[key] !== value;
    }
    if (this.isWord('in') || (this.isWord('not') && this.isWord('in', 1))) {
      const negate = this.isWord('not');
      this.pos += negate ? 2 : 1;
      const set = this.set();
      return negate ? (l) => !(key in l) || !set.has(l[key] ?? '') : (l) => key in l && set.has(l[key] ?? '');
    }
    if (this.isWord('contains')) {
      this.pos++;
      const s = this.literal();
      return (l) => key in l && (l[key] ?? '').includes(s);
    }
    if ((this.isWord('starts') || this.isWord('ends')) && this.isWord('with', 1)) {
      const starts = this.isWord('starts');
      this.pos += 2;
      const s = this.literal();
      return starts
        ? (l) => key in l && (l[key] ?? '').startsWith(s)
        : (l) => key in l && (l[key] ?? '').endsWith(s);
    }
    throw this.error(`expected an operator after '${key}'`);
  }

  private literal(): string {
    const t = this.peek();
    if (t?.t !== 'string') throw this.error('expected a quoted value');
    this.pos++;
    return t.v;
  }

  private set(): Set<string> {
    this.expectOp('{');
    const values = new Set<string>();
    if (this.isOp('}')) {
      this.pos++;
      return values;
    }
    values.add(this.literal());
    while (this.isOp(',')) {
      this.pos++;
      values.add(this.literal());
    }
    this.expectOp('}');
    return values;
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
  let compiled: CompiledSelector;
  if (text.trim() === '') compiled = { match: () => true, all: true, global: false };
  else {
    const parser = new Parser(tokenize(text));
    const match = parser.parse();
    compiled = { match, all: /^\s*all\(\s*\)\s*$/.test(text), global: parser.usesGlobal };
  }
  cache.set(text, compiled);
  return compiled;
}
