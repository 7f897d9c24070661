/**
 * YAML parsed with positions, so every later stage can say `file:line:column` about any value.
 * A thin layer over the `yaml` package's CST-backed documents.
 *
 * What is refused, each as a located problem (README "Input limits"): syntax errors, duplicate
 * keys (also `1` next to `"1"`: both are the key "1" once read), keys that are not strings,
 * aliases to no anchor or to a node they are inside of, merge keys (`<<`), tags other than
 * YAML's core ones (`!!binary`, `!!set`, `!!timestamp`, `!custom` would give values no
 * Kubernetes object or scenario holds), nesting deeper than {@link YAML_LIMITS}.maxDepth, more
 * than {@link YAML_LIMITS}.maxNodes values in one text (counted by the lexer before anything is
 * built: a small file can hold millions of one-character values), and aliases that add more
 * than {@link YAML_LIMITS}.maxAliasedNodes values to a document (an alias bomb).
 */
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
} from 'yaml';

import type { Problem } from './errors.js';

/**
 * Bounds on what one YAML text may hold. The `yaml` package needs about 1 KB and 10 µs per
 * value it builds, so `maxNodes` keeps a text under about half a gigabyte and a few seconds.
 */
export const YAML_LIMITS = {
  /** Values (scalars and collections) in one text, all documents together. */
  maxNodes: 500_000,
  /** Levels of nested mappings and lists, aliases expanded. */
  maxDepth: 64,
  /** Values aliases may add to one document when expanded. */
  maxAliasedNodes: 100_000,
} as const;

/** A path into a parsed document: object keys and array indexes. */
export type DocPath = readonly (string | number)[];

export interface Position {
  readonly line: number;
  readonly column: number;
}

/** One YAML document of a file, with its plain value and a way back to source positions. */
export class YamlDocument {
  readonly file: string;
  private readonly doc: Document;
  private readonly lines: LineCounter;
  /** Added to every line, for documents embedded in another file (inline policies). */
  private readonly lineOffset: number;

  constructor(file: string, doc: Document, lines: LineCounter, lineOffset = 0) {
    this.file = file;
    this.doc = doc;
    this.lines = lines;
    this.lineOffset = lineOffset;
  }

  private plain: { value: unknown } | undefined;

  /**
   * The document as plain JavaScript values (computed once). Aliases were bounded by
   * {@link parseYaml} (`maxAliasedNodes`), which takes the place of the package's own
   * `maxAliasCount`: that one counts alias uses, not what they expand to, and refuses a scenario
   * that names one anchor 101 times without saying where.
   */
  value(): unknown {
    this.plain ??= { value: this.doc.toJS({ maxAliasCount: -1 }) };
    return this.plain.value;
  }

  /** Where the document itself starts. */
  start(): Position {
    const node = this.doc.contents;
    return this.at(node?.range?.[0] ?? 0);
  }

  /**
   * Where the value at `path` is. When the path leads past what the document holds (a missing
   * field), the deepest existing node is used. With `key: true` the position of the map key
   * naming the last path element is returned (for "unknown field" messages).
   */
  locate(path: DocPath, options: { key?: boolean } = {}): Position {
    let node: unknown = this.doc.contents;
    let offset = (node as Node | null)?.range?.[0] ?? 0;
    for (const [i, step] of path.entries()) {
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(step));
        if (!pair) break;
        const keyNode = pair.key as Node | null;
        if (last && options.key && keyNode?.range) return this.at(keyNode.range[0]);
        node = pair.value;
        offset = (pair.value as Node | null)?.range?.[0] ?? keyNode?.range?.[0] ?? offset;
      } else if (isSeq(node) && typeof step === 'number') {
        const item = node.items[step] as Node | undefined;
        if (!item) break;
        node = item;
        offset = item.range?.[0] ?? offset;
      } else {
        break;
      }
    }
    return this.at(offset);
  }

  /** A problem located at `path`. */
  problem(path: DocPath, message: string, options: { key?: boolean } = {}): Problem {
    const { line, column } = this.locate(path, options);
    return { file: this.file, line, column, path: formatPath(path), message };
  }

  /** The line on which the block scalar at `path` starts its content (for inline YAML). */
  blockContentLine(path: DocPath): number {
    const { line } = this.locate(path);
    const node = this.doc.getIn(path, true);
    const literal = isScalar(node) && (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED');
    return literal ? line + 1 : line;
  }

  private at(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line: line + this.lineOffset, column: col };
  }
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

/** `spec.workloads[2].namespace` */
export function formatPath(path: DocPath): string {
  let out = '';
  for (const step of path) {
    if (typeof step === 'number') out += `[${step}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(step)) out += out ? `.${step}` : step;
    else out += `[${JSON.stringify(step)}]`;
  }
  return out;
}

export type ParseResult =
  | {
      readonly ok: true;
      readonly documents: readonly YamlDocument[];
      /** Values the text holds (aliases counted once): what the parsed documents keep in memory. */
      readonly nodes: number;
    }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/**
 * Parses every document of a YAML text. Syntax errors, duplicate keys, bad aliases and the
 * limits above become problems with positions; nothing is returned half-parsed. `maxNodes`
 * replaces {@link YAML_LIMITS}.maxNodes for texts known to be larger (a results.json of a run of
 * 20,000 attempts holds about two million values).
 */
export function parseYaml(
  text: string,
  file: string,
  lineOffset = 0,
  options: { readonly maxNodes?: number } = {},
): ParseResult {
  const maxNodes = options.maxNodes ?? YAML_LIMITS.maxNodes;
  const lines = new LineCounter();
  const locate = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line: line + lineOffset, column: col };
  };
  const tooMany = countNodesOver(text, maxNodes);
  if (tooMany !== undefined) {
    // Nothing was built, so no line counter: the position by hand.
    const before = text.slice(0, tooMany);
    const line = before.split('\n').length + lineOffset;
    const column = tooMany - before.lastIndexOf('\n');
    return {
      ok: false,
      problems: [
        {
          file,
          line,
          column,
          path: '',
          message: `more than ${maxNodes.toLocaleString('en-US')} YAML values (scalars, lists and mappings) in one text, the first one past the limit here; split the file, or leave out what is not needed`,
        },
      ],
    };
  }
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    stringKeys: true,
    merge: false,
  });
  if (!Array.isArray(docs)) {
    // An empty stream parses to an EmptyStream object.
    return { ok: true, documents: [], nodes: 0 };
  }
  const problems: Problem[] = [];
  for (const doc of docs) {
    for (const error of doc.errors) {
      const at = locate(error.pos[0]);
      problems.push({
        file,
        ...at,
        path: '',
        message: yamlErrorMessage(error.code, error.message, text, error.pos[0]),
      });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  let nodes = 0;
  for (const doc of docs) {
    const found = inspect(doc, (offset, path, message) => ({
      file,
      ...locate(offset),
      path: formatPath(path),
      message,
    }));
    problems.push(...found.problems);
    nodes += found.nodes;
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, documents: docs.map((doc) => new YamlDocument(file, doc, lines, lineOffset)), nodes };
}

/** The package's error as a sentence; the common ones reworded, the rest as it says them. */
function yamlErrorMessage(code: string, message: string, text: string, offset: number): string {
  const first = message.split('\n')[0] ?? message;
  switch (code) {
    case 'DUPLICATE_KEY': {
      const key = /^("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^:#\n]*?)\s*:/.exec(
        text.slice(offset, offset + 300),
      )?.[1];
      return key
        ? `YAML: the key ${key.startsWith('"') || key.startsWith("'") ? key : `'${key}'`} is already in this mapping (each key once)`
        : 'YAML: a key is already in this mapping (each key once)';
    }
    case 'NON_STRING_KEY':
      return 'YAML: a mapping key must be a string (not a list, a mapping or an alias)';
    case 'RESOURCE_EXHAUSTION':
      return `YAML: nested too deeply to read (bulkhead reads at most ${YAML_LIMITS.maxDepth} levels)`;
    default:
      return `YAML: ${first}`;
  }
}

/**
 * Counts the values of a YAML text with the package's lexer (nothing is built) and returns the
 * offset of the first value past `max`, or undefined when there are at most `max`. A value is a
 * scalar, a flow collection, or a block list item; block mappings are counted by their keys.
 */
function countNodesOver(text: string, max: number): number | undefined {
  // A value takes at least one character, so a short text cannot be over.
  if (text.length <= max) return undefined;
  let count = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    const c = token.charCodeAt(0);
    // SCALAR marker (plain scalars), quoted scalars, block scalar headers, flow starts, "-".
    if (
      token === '\x1f' ||
      c === 0x22 /* " */ ||
      c === 0x27 /* ' */ ||
      c === 0x7c /* | */ ||
      c === 0x3e /* > */ ||
      token === '[' ||
      token === '{' ||
      token === '-' ||
      c === 0x2a /* * alias */
    ) {
      if (++count > max) return offset;
    }
    // The lexer's markers for scalars, document mode and flow errors are not source text.
    if (token !== '\x1f' && token !== '\x02' && token !== '\x18') offset += token.length;
  }
  return undefined;
}

const CORE_TAGS = new Set(
  ['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`),
);

type Locate = (offset: number, path: DocPath, message: string) => Problem;

/** A value's size (values, aliases expanded) and height (levels below it). */
interface Measure {
  readonly size: number;
  readonly height: number;
}
const LEAF: Measure = { size: 1, height: 0 };

/**
 * What the parser accepts but bulkhead does not: aliases to nothing or to their own ancestors,
 * alias expansion past the budget, merge keys, tags outside the core schema, depth past the
 * limit. Walks the document once, in document order (the order the package resolves aliases
 * in: the last anchor of that name before the alias).
 */
function inspect(doc: Document, problem: Locate): { problems: Problem[]; nodes: number } {
  const problems: Problem[] = [];
  let nodes = 0;
  const anchors = new Map<string, Node>();
  /** Expanded size and height of each anchored node, once it is complete. */
  const measured = new Map<Node, Measure>();
  const open = new Set<Node>();
  let aliased = 0;
  let deepReported = false;
  let budgetReported = false;

  const offsetOf = (node: unknown): number => (node as Node | null)?.range?.[0] ?? 0;

  /** The path of the node being walked (copied into a problem). */
  const path: (string | number)[] = [];

  /** Returns the node's expanded size and height; records problems on the way. */
  const walk = (node: unknown, depth: number): Measure => {
    nodes++;
    if (node === null || node === undefined) return LEAF;
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) {
        problems.push(
          problem(
            offsetOf(node),
            [...path],
            `YAML: the alias *${node.source} names no anchor &${node.source} defined before it`,
          ),
        );
        return LEAF;
      }
      if (open.has(target)) {
        problems.push(
          problem(
            offsetOf(node),
            [...path],
            `YAML: the alias *${node.source} is inside the value &${node.source} it names, which would repeat without end`,
          ),
        );
        return LEAF;
      }
      const m = measured.get(target) ?? LEAF;
      aliased += m.size;
      if (aliased > YAML_LIMITS.maxAliasedNodes && !budgetReported) {
        budgetReported = true;
        problems.push(
          problem(
            offsetOf(node),
            [...path],
            `YAML: aliases expand this document by more than ${YAML_LIMITS.maxAliasedNodes.toLocaleString('en-US')} values (by here); write the values out, or alias less`,
          ),
        );
      }
      if (depth + m.height > YAML_LIMITS.maxDepth && !deepReported) {
        deepReported = true;
        problems.push(
          problem(
            offsetOf(node),
            [...path],
            `YAML: nested more than ${YAML_LIMITS.maxDepth} levels deep once the alias *${node.source} is expanded`,
          ),
        );
      }
      return m;
    }
    const n = node as Node;
    if (n.tag !== undefined && !CORE_TAGS.has(n.tag)) {
      problems.push(
        problem(
          offsetOf(n),
          [...path],
          `YAML: the tag ${shortTag(n.tag)} is not supported; bulkhead reads strings, numbers, booleans, null, lists and mappings`,
        ),
      );
    }
    const anchor = (n as { anchor?: string }).anchor;
    if (anchor) {
      anchors.set(anchor, n);
      open.add(n);
    }
    let result = LEAF;
    if (depth > YAML_LIMITS.maxDepth) {
      if (!deepReported) {
        deepReported = true;
        problems.push(
          problem(offsetOf(n), [...path], `YAML: nested more than ${YAML_LIMITS.maxDepth} levels deep`),
        );
      }
    } else if (isMap(n)) {
      let size = 1;
      let height = 0;
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const key = pair.key;
        const name = isScalar(key) ? String(key.value) : '';
        if (isScalar(key) && key.value === '<<' && key.type === 'PLAIN') {
          problems.push(
            problem(
              offsetOf(key),
              [...path, name],
              'YAML: merge keys (<<) are not supported; write the keys out (an alias of a whole mapping or list works)',
            ),
          );
          continue;
        }
        size += walk(key, depth + 1).size;
        path.push(name);
        const value = walk(pair.value, depth + 1);
        path.pop();
        size += value.size;
        height = Math.max(height, value.height + 1);
      }
      result = { size, height };
    } else if (isSeq(n)) {
      let size = 1;
      let height = 0;
      n.items.forEach((item, i) => {
        path.push(i);
        const value = walk(item, depth + 1);
        path.pop();
        size += value.size;
        height = Math.max(height, value.height + 1);
      });
      result = { size, height };
    }
    if (anchor) {
      open.delete(n);
      measured.set(n, result);
    }
    return result;
  };
  walk(doc.contents, 0);
  return { problems, nodes };
}

function shortTag(tag: string): string {
  return tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
}
