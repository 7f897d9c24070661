/**
 * Rendered bundles are YAML text first and objects second: the text is what a reviewer reads and
 * what `kubectl apply` gets, and parsing it back gives every object a line lint can point at.
 */
import { stringify } from 'yaml';

import { InputError } from '../errors.js';
import type { Manifest } from '../scenario/types.js';
import { parseYaml } from '../yaml-source.js';

/** One object of a bundle and the comment printed above it. */
export interface BundleDocument {
  readonly comment: string;
  readonly object: Readonly<Record<string, unknown>>;
}

/** The documents as one multi-document YAML text, comment lines above each object. */
export function toYamlText(header: string, documents: readonly BundleDocument[]): string {
  const parts = documents.map((d) => {
    const comment = d.comment
      .split('\n')
      .map((l) => (l ? `# ${l}` : '#'))
      .join('\n');
    return `${comment}\n${stringify(d.object, { lineWidth: 0, aliasDuplicateObjects: false, singleQuote: true })}`;
  });
  const head = header
    .split('\n')
    .map((l) => (l ? `# ${l}` : '#'))
    .join('\n');
  return `${head}\n${parts.join('---\n')}`;
}

/** Parses rendered text back into manifests located in `file` (a virtual name such as `builtin:article`). */
export function toManifests(text: string, file: string): Manifest[] {
  const parsed = parseYaml(text, file);
  // Rendered text is ours: a parse failure is a bug in a renderer, reported with its position.
  if (!parsed.ok) throw new InputError(parsed.problems, `${file}: rendered YAML does not parse`);
  const manifests: Manifest[] = [];
  for (const source of parsed.documents) {
    const object = source.value();
    if (object === null || typeof object !== 'object' || Array.isArray(object)) continue;
    manifests.push({
      object: object as Record<string, unknown>,
      file,
      line: source.start().line,
      source,
    });
  }
  return manifests;
}
