/**
 * YAML parsed with positions, so every later stage can say `file:line:column` about any value.
 * A thin layer over the `yaml` package's CST-backed documents.
 */
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Document,
  type Node,
} from 'yaml';

import type { Problem } from './errors.js';

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

  /** The document as plain JavaScript values. */
  value(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
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
  | { readonly ok: true; readonly documents: readonly YamlDocument[] }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/**
 * Parses every document of a YAML text. Syntax errors, duplicate keys and bad aliases become
 * problems with positions; nothing is returned half-parsed.
 */
export function parseYaml(text: string, file: string, lineOffset = 0): ParseResult {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    // An empty stream parses to an EmptyStream object.
    return { ok: true, documents: [] };
  }
  const problems: Problem[] = [];
  for (const doc of docs) {
    for (const error of doc.errors) {
      const { line, col } = lines.linePos(error.pos[0]);
      const message = error.message.split('\n')[0] ?? error.message;
      problems.push({ file, line: line + lineOffset, column: col, path: '', message: `YAML: ${message}` });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, documents: docs.map((doc) => new YamlDocument(file, doc, lines, lineOffset)) };
}
