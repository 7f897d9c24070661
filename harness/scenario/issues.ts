/**
 * Turns zod's issues into located, readable problems: the field path, the file:line:column of
 * the offending value (or key), and a suggestion when a name looks mistyped.
 */
import type { z } from 'zod';

import { suggest, type Problem } from '../errors.js';
import { formatPath, type DocPath, type YamlDocument } from '../yaml-source.js';

type Issue = z.core.$ZodIssue;

export function issuesToProblems(
  issues: readonly Issue[],
  doc: YamlDocument,
  schema: z.ZodType,
  data: unknown,
): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) collect(issue, [], doc, schema, data, problems);
  // One message per place: unions can report the same fault through several branches.
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.column}:${p.path}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function collect(
  issue: Issue,
  prefix: DocPath,
  doc: YamlDocument,
  schema: z.ZodType,
  data: unknown,
  out: Problem[],
): void {
  const path: DocPath = [...prefix, ...(issue.path as (string | number)[])];
  const value = valueAt(data, path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(schema, path, data);
      for (const key of issue.keys) {
        const hint = suggest(key, known);
        const tail = hint
          ? ` (did you mean '${hint}'?)`
          : known.length
            ? ` (known fields: ${known.join(', ')})`
            : '';
        out.push(doc.problem([...path, key], `unknown field '${key}'${tail}`, { key: true }));
      }
      return;
    }
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator) {
        const options = (issue as { options?: unknown[] }).options?.map(String) ?? [];
        const given = valueAt(data, path);
        if (given === undefined) {
          out.push(doc.problem(path, `is required; one of ${options.join(', ')}`));
        } else {
          const hint = typeof given === 'string' ? suggest(given, options) : undefined;
          out.push(
            doc.problem(
              path,
              `unknown ${String(path[path.length - 1])} ${describe(given)}; expected one of ${options.join(', ')}` +
                (hint ? ` (did you mean '${hint}'?)` : ''),
            ),
          );
        }
        return;
      }
      // Report the branch that fits the kind of value given (an object for an object form).
      const branches = issue.errors.filter(
        (branch) =>
          !(branch.length === 1 && branch[0]?.code === 'invalid_type' && branch[0].path.length === 0),
      );
      const [chosen] = branches;
      if (branches.length === 1 && chosen) {
        for (const sub of chosen) collect(sub, path, doc, schema, data, out);
        return;
      }
      out.push(doc.problem(path, describeUnionMismatch(issue, value)));
      return;
    }
    case 'invalid_type': {
      if (value === undefined) {
        out.push(doc.problem(path, `is required (${issue.expected})`, { key: true }));
      } else {
        out.push(doc.problem(path, `expected ${issue.expected}, got ${describe(value)}`));
      }
      return;
    }
    case 'invalid_value': {
      const options = issue.values.map((v) => String(v));
      const hint = typeof value === 'string' ? suggest(value, options) : undefined;
      const expected = options.length === 1 ? `'${options[0] ?? ''}'` : `one of ${options.join(', ')}`;
      out.push(
        doc.problem(
          path,
          `got ${describe(value)}; expected ${expected}` + (hint ? ` (did you mean '${hint}'?)` : ''),
        ),
      );
      return;
    }
    case 'custom':
    case 'invalid_element':
    case 'invalid_format':
    case 'invalid_key':
    case 'not_multiple_of':
    case 'too_big':
    case 'too_small':
    default:
      out.push(doc.problem(path, issue.message));
  }
}

function describeUnionMismatch(issue: Issue & { code: 'invalid_union' }, value: unknown): string {
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const sub of branch) {
      if (sub.code === 'invalid_type' && sub.path.length === 0) expected.add(sub.expected);
      else if (sub.code === 'invalid_value') for (const v of sub.values) expected.add(`'${String(v)}'`);
    }
  }
  return expected.size
    ? `got ${describe(value)}; expected ${[...expected].join(' or ')}`
    : `got ${describe(value)}, which fits none of the allowed forms`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `'${value}'`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

export function valueAt(data: unknown, path: DocPath): unknown {
  let v: unknown = data;
  for (const step of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
}

// --- the schema's own field names, for "did you mean" -------------------------------------

interface Def {
  readonly type: string;
  readonly innerType?: SchemaLike;
  readonly in?: SchemaLike;
  readonly shape?: Record<string, SchemaLike>;
  readonly element?: SchemaLike;
  readonly options?: readonly SchemaLike[];
  readonly discriminator?: string;
  readonly values?: readonly unknown[];
}
interface SchemaLike {
  readonly _zod: { readonly def: Def };
}

function unwrap(s: SchemaLike): SchemaLike {
  let current = s;
  for (;;) {
    const def = current._zod.def;
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
}

function pickOption(s: SchemaLike, value: unknown): SchemaLike {
  const def = s._zod.def;
  if (def.type !== 'union' || !def.options) return s;
  const disc = def.discriminator;
  if (disc && value && typeof value === 'object') {
    const want = (value as Record<string, unknown>)[disc];
    const match = def.options.find((o) => unwrap(o)._zod.def.shape?.[disc]?._zod.def.values?.includes(want));
    if (match) return unwrap(match);
  }
  const wantType = Array.isArray(value) ? 'array' : 'object';
  const byType = def.options.map(unwrap).find((o) => o._zod.def.type === wantType);
  return byType ?? s;
}

function knownKeys(schema: z.ZodType, path: DocPath, data: unknown): string[] {
  let s: SchemaLike = unwrap(schema);
  let value: unknown = data;
  for (const step of path) {
    s = pickOption(s, value);
    const def = s._zod.def;
    const next =
      def.type === 'object' ? def.shape?.[String(step)] : def.type === 'array' ? def.element : undefined;
    if (!next) return [];
    s = unwrap(next);
    value = valueAt(value, [step]);
  }
  s = pickOption(s, value);
  return Object.keys(s._zod.def.shape ?? {});
}

export { formatPath };
