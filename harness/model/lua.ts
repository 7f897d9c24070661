/**
 * A small interpreter for the Lua that header-rewriting EnvoyFilters use, so the model can say
 * what header RBAC sees after such a filter. It understands a subset: `envoy_on_request`
 * functions with local variables, assignments, if/elseif/else, return, string literals and
 * concatenation, comparisons, `not`/`and`/`or`, `string.sub`/`string.len`, tables indexed by
 * number, and the Envoy stream handle API the filters use (`headers():get/add/replace/remove`,
 * `streamInfo():downstreamSslConnection()`, `peerCertificatePresented()`,
 * `uriSanPeerCertificate()`, `log*`). Anything else is "not understood" (undefined), never a guess.
 *
 * Runtime errors follow Envoy's Lua filter: the script stops, what it already did stays, and
 * the request continues (`scriptError`, docs/behaviour.md §D(b)): calling a method on nil, or passing a table
 * where a header value must be a string.
 */

type Token = { readonly t: 'name' | 'string' | 'number' | 'op'; readonly v: string };

const KEYWORDS = new Set([
  'local',
  'function',
  'end',
  'if',
  'then',
  'else',
  'elseif',
  'return',
  'not',
  'and',
  'or',
  'nil',
  'true',
  'false',
]);

function tokenize(code: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  while (i < code.length) {
    const c = code.charAt(i);
    if (/\s/.test(c)) {
      i++;
    } else if (code.startsWith('--', i)) {
      if (code.startsWith('--[[', i)) {
        const end = code.indexOf(']]', i);
        if (end < 0) return undefined;
        i = end + 2;
      } else {
        const end = code.indexOf('\n', i);
        i = end < 0 ? code.length : end + 1;
      }
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < code.length && code.charAt(j) !== c) {
        if (code.charAt(j) === '\\') {
          const e = code.charAt(j + 1);
          s += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
        } else s += code.charAt(j++);
      }
      if (j >= code.length) return undefined;
      out.push({ t: 'string', v: s });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < code.length && /[A-Za-z0-9_]/.test(code.charAt(j))) j++;
      out.push({ t: 'name', v: code.slice(i, j) });
      i = j;
    } else if (/\d/.test(c)) {
      let j = i;
      while (j < code.length && /\d/.test(code.charAt(j))) j++;
      out.push({ t: 'number', v: code.slice(i, j) });
      i = j;
    } else {
      const two = code.slice(i, i + 2);
      if (['==', '~=', '..', '<=', '>='].includes(two)) {
        out.push({ t: 'op', v: two });
        i += 2;
      } else if ('()[]{},.:=#<>'.includes(c)) {
        out.push({ t: 'op', v: c });
        i++;
      } else return undefined;
    }
  }
  return out;
}

type Expr =
  | { readonly k: 'lit'; readonly v: LuaValue }
  | { readonly k: 'name'; readonly n: string }
  | { readonly k: 'index'; readonly o: Expr; readonly i: Expr }
  | { readonly k: 'field'; readonly o: Expr; readonly n: string }
  | { readonly k: 'method'; readonly o: Expr; readonly n: string; readonly a: readonly Expr[] }
  | { readonly k: 'call'; readonly f: Expr; readonly a: readonly Expr[] }
  | { readonly k: 'bin'; readonly op: string; readonly l: Expr; readonly r: Expr }
  | { readonly k: 'not' | 'len'; readonly e: Expr };

type Stat =
  | { readonly k: 'local' | 'assign'; readonly n: string; readonly e: Expr | undefined }
  | {
      readonly k: 'if';
      readonly arms: readonly { readonly c: Expr; readonly b: readonly Stat[] }[];
      readonly otherwise: readonly Stat[];
    }
  | { readonly k: 'return' }
  | { readonly k: 'expr'; readonly e: Expr };

class Unsupported extends Error {}

class Parser {
  private pos = 0;
  private readonly tokens: readonly Token[];
  constructor(tokens: readonly Token[]) {
    this.tokens = tokens;
  }
  private peek(o = 0): Token | undefined {
    return this.tokens[this.pos + o];
  }
  private is(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t !== undefined && t.t !== 'string' && t.v === v;
  }
  private take(v: string): void {
    if (!this.is(v)) throw new Unsupported(`expected ${v}`);
    this.pos++;
  }
  private name(): string {
    const t = this.peek();
    if (t?.t !== 'name' || KEYWORDS.has(t.v)) throw new Unsupported('expected a name');
    this.pos++;
    return t.v;
  }

  /** Top level: function definitions only; returns the body of envoy_on_request. */
  chunk(): readonly Stat[] {
    let request: readonly Stat[] = [];
    while (this.peek()) {
      this.take('function');
      const fname = this.name();
      this.take('(');
      if (!this.is(')')) this.name();
      this.take(')');
      const body = this.block();
      this.take('end');
      if (fname === 'envoy_on_request') request = body;
      else if (fname !== 'envoy_on_response') throw new Unsupported(`function ${fname}`);
    }
    return request;
  }

  private block(): Stat[] {
    const out: Stat[] = [];
    while (this.peek() && !this.is('end') && !this.is('else') && !this.is('elseif')) out.push(this.stat());
    return out;
  }

  private stat(): Stat {
    if (this.is('local')) {
      this.pos++;
      const n = this.name();
      if (this.is('=')) {
        this.pos++;
        return { k: 'local', n, e: this.expr() };
      }
      return { k: 'local', n, e: undefined };
    }
    if (this.is('if')) {
      this.pos++;
      const arms: { c: Expr; b: Stat[] }[] = [];
      const c = this.expr();
      this.take('then');
      arms.push({ c, b: this.block() });
      let otherwise: Stat[] = [];
      while (this.is('elseif')) {
        this.pos++;
        const c2 = this.expr();
        this.take('then');
        arms.push({ c: c2, b: this.block() });
      }
      if (this.is('else')) {
        this.pos++;
        otherwise = this.block();
      }
      this.take('end');
      return { k: 'if', arms, otherwise };
    }
    if (this.is('return')) {
      this.pos++;
      if (this.peek() && !this.is('end') && !this.is('else') && !this.is('elseif'))
        throw new Unsupported('return with a value');
      return { k: 'return' };
    }
    if (this.peek()?.t === 'name' && this.is('=', 1)) {
      const n = this.name();
      this.pos++;
      return { k: 'assign', n, e: this.expr() };
    }
    const e = this.postfix();
    if (e.k !== 'call' && e.k !== 'method') throw new Unsupported('statement');
    return { k: 'expr', e };
  }

  private expr(): Expr {
    let l = this.and();
    while (this.is('or')) {
      this.pos++;
      l = { k: 'bin', op: 'or', l, r: this.and() };
    }
    return l;
  }
  private and(): Expr {
    let l = this.cmp();
    while (this.is('and')) {
      this.pos++;
      l = { k: 'bin', op: 'and', l, r: this.cmp() };
    }
    return l;
  }
  private cmp(): Expr {
    let l = this.concat();
    while (this.is('==') || this.is('~=')) {
      const op = (this.peek() as Token).v;
      this.pos++;
      l = { k: 'bin', op, l, r: this.concat() };
    }
    return l;
  }
  private concat(): Expr {
    const l = this.unary();
    if (this.is('..')) {
      this.pos++;
      return { k: 'bin', op: '..', l, r: this.concat() };
    }
    return l;
  }
  private unary(): Expr {
    if (this.is('not')) {
      this.pos++;
      return { k: 'not', e: this.unary() };
    }
    if (this.is('#')) {
      this.pos++;
      return { k: 'len', e: this.unary() };
    }
    return this.postfix();
  }
  private args(): Expr[] {
    this.take('(');
    const a: Expr[] = [];
    if (!this.is(')')) {
      a.push(this.expr());
      while (this.is(',')) {
        this.pos++;
        a.push(this.expr());
      }
    }
    this.take(')');
    return a;
  }
  private postfix(): Expr {
    let e = this.primary();
    for (;;) {
      if (this.is('.')) {
        this.pos++;
        e = { k: 'field', o: e, n: this.name() };
      } else if (this.is('[')) {
        this.pos++;
        const i = this.expr();
        this.take(']');
        e = { k: 'index', o: e, i };
      } else if (this.is(':')) {
        this.pos++;
        const n = this.name();
        e = { k: 'method', o: e, n, a: this.args() };
      } else if (this.is('(')) {
        e = { k: 'call', f: e, a: this.args() };
      } else return e;
    }
  }
  private primary(): Expr {
    const t = this.peek();
    if (!t) throw new Unsupported('end of code');
    if (t.t === 'string') {
      this.pos++;
      return { k: 'lit', v: t.v };
    }
    if (t.t === 'number') {
      this.pos++;
      return { k: 'lit', v: Number(t.v) };
    }
    if (this.is('nil') || this.is('true') || this.is('false')) {
      this.pos++;
      return { k: 'lit', v: t.v === 'nil' ? null : t.v === 'true' };
    }
    if (this.is('(')) {
      this.pos++;
      const e = this.expr();
      this.take(')');
      return e;
    }
    return { k: 'name', n: this.name() };
  }
}

type Opaque = { readonly kind: 'handle' | 'headers' | 'streamInfo' | 'ssl' | 'string' };
type LuaValue = string | number | boolean | null | readonly (string | null)[] | Opaque;

class LuaError extends Error {}
class Returned extends Error {}

export interface LuaRequest {
  /** The peer's URI SAN (`spiffe://…`) over mTLS; undefined over plaintext. */
  readonly peerUri: string | undefined;
  /** Lower-case names; values merged with ','. Mutated in place. */
  readonly headers: Map<string, string>;
}

export interface LuaProgram {
  /** Runs envoy_on_request; false when the code does something the interpreter does not understand. */
  readonly run: (request: LuaRequest) => boolean;
}

export function compileLua(code: string): LuaProgram | undefined {
  const tokens = tokenize(code);
  if (!tokens) return undefined;
  let body: readonly Stat[];
  try {
    body = new Parser(tokens).chunk();
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
  return {
    run: (request) => {
      const scope = new Map<string, LuaValue>([
        ['handle', { kind: 'handle' }],
        ['string', { kind: 'string' }],
      ]);
      try {
        execBlock(body, scope, request);
      } catch (error) {
        if (error instanceof Returned || error instanceof LuaError) return true;
        if (error instanceof Unsupported) return false;
        throw error;
      }
      return true;
    },
  };
}

function execBlock(block: readonly Stat[], scope: Map<string, LuaValue>, req: LuaRequest): void {
  for (const s of block) {
    switch (s.k) {
      case 'local':
      case 'assign':
        scope.set(s.n, s.e ? evaluate(s.e, scope, req) : null);
        break;
      case 'return':
        throw new Returned();
      case 'expr':
        evaluate(s.e, scope, req);
        break;
      case 'if': {
        const arm = s.arms.find((a) => truthy(evaluate(a.c, scope, req)));
        execBlock(arm ? arm.b : s.otherwise, scope, req);
        break;
      }
    }
  }
}

function truthy(v: LuaValue): boolean {
  return v !== null && v !== false;
}

function isOpaque(v: LuaValue): v is Opaque {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function evaluate(e: Expr, scope: Map<string, LuaValue>, req: LuaRequest): LuaValue {
  switch (e.k) {
    case 'lit':
      return e.v;
    case 'name':
      if (!scope.has(e.n)) throw new Unsupported(`global ${e.n}`);
      return scope.get(e.n) ?? null;
    case 'not':
      return !truthy(evaluate(e.e, scope, req));
    case 'len': {
      const v = evaluate(e.e, scope, req);
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      throw new LuaError('length of a non-string');
    }
    case 'bin': {
      if (e.op === 'and') {
        const l = evaluate(e.l, scope, req);
        return truthy(l) ? evaluate(e.r, scope, req) : l;
      }
      if (e.op === 'or') {
        const l = evaluate(e.l, scope, req);
        return truthy(l) ? l : evaluate(e.r, scope, req);
      }
      const l = evaluate(e.l, scope, req);
      const r = evaluate(e.r, scope, req);
      if (e.op === '..') {
        if (
          (typeof l === 'string' || typeof l === 'number') &&
          (typeof r === 'string' || typeof r === 'number')
        )
          return `${l}${r}`;
        throw new LuaError('concatenating a non-string');
      }
      // Objects compare by identity, so `ssl == nil` is false for a connection.
      return e.op === '==' ? l === r : l !== r;
    }
    case 'index': {
      const o = evaluate(e.o, scope, req);
      const i = evaluate(e.i, scope, req);
      if (o === null) throw new LuaError('indexing nil');
      if (!Array.isArray(o) || typeof i !== 'number') throw new Unsupported('index');
      return (o as readonly (string | null)[])[i - 1] ?? null;
    }
    case 'field':
      throw new Unsupported('field access');
    case 'call': {
      if (
        e.f.k !== 'field' ||
        e.f.o.k !== 'name' ||
        e.f.o.n !== 'string' ||
        scope.get('string') === undefined
      ) {
        throw new Unsupported('call');
      }
      const args = e.a.map((a) => evaluate(a, scope, req));
      return stringLibrary(e.f.n, args);
    }
    case 'method': {
      const o = evaluate(e.o, scope, req);
      const args = e.a.map((a) => evaluate(a, scope, req));
      if (o === null) throw new LuaError(`calling ${e.n} on nil`);
      if (!isOpaque(o)) throw new Unsupported(`method ${e.n}`);
      return method(o, e.n, args, req);
    }
  }
}

function stringLibrary(fn: string, args: readonly LuaValue[]): LuaValue {
  const [s, a, b] = args;
  if (typeof s !== 'string') throw new LuaError(`string.${fn} of a non-string`);
  if (fn === 'len') return s.length;
  if (fn === 'sub' && typeof a === 'number' && (b === undefined || typeof b === 'number')) {
    const start = a < 0 ? Math.max(s.length + a, 0) : Math.max(a - 1, 0);
    const endRaw = b ?? -1;
    const end = endRaw < 0 ? s.length + endRaw + 1 : Math.min(endRaw, s.length);
    return s.slice(start, Math.max(end, start));
  }
  throw new Unsupported(`string.${fn}`);
}

function method(o: Opaque, name: string, args: readonly LuaValue[], req: LuaRequest): LuaValue {
  const key = (v: LuaValue | undefined): string => {
    if (typeof v !== 'string') throw new LuaError('header name must be a string');
    return v.toLowerCase();
  };
  const value = (v: LuaValue | undefined): string => {
    if (typeof v !== 'string' && typeof v !== 'number') throw new LuaError('header value must be a string');
    return String(v);
  };
  switch (`${o.kind}:${name}`) {
    case 'handle:headers':
      return { kind: 'headers' };
    case 'handle:streamInfo':
      return { kind: 'streamInfo' };
    case 'handle:logTrace':
    case 'handle:logDebug':
    case 'handle:logInfo':
    case 'handle:logWarn':
    case 'handle:logErr':
    case 'handle:logCritical':
      return null;
    case 'streamInfo:downstreamSslConnection':
      return req.peerUri === undefined ? null : { kind: 'ssl' };
    case 'ssl:peerCertificatePresented':
      return true;
    case 'ssl:uriSanPeerCertificate':
      return req.peerUri === undefined ? [] : [req.peerUri];
    case 'headers:get':
      return req.headers.get(key(args[0])) ?? null;
    case 'headers:remove':
      req.headers.delete(key(args[0]));
      return null;
    case 'headers:replace':
      req.headers.set(key(args[0]), value(args[1]));
      return null;
    case 'headers:add': {
      const k = key(args[0]);
      const v = value(args[1]);
      const prior = req.headers.get(k);
      req.headers.set(k, prior === undefined ? v : `${prior},${v}`);
      return null;
    }
    default:
      throw new Unsupported(`${o.kind}:${name}`);
  }
}
