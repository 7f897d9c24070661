/**
 * Manifest files and folders as given on a command line, read into located manifests. Folders
 * are read recursively (`*.yaml`, `*.yml`, in name order). Anything unreadable or not a
 * Kubernetes object is a problem of the input: all of them are reported together.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import { InputError, type Problem } from '../errors.js';
import type { Manifest } from '../scenario/types.js';
import { parseYaml } from '../yaml-source.js';

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(full)));
    else if (/\.ya?ml$/.test(e.name)) out.push(full);
  }
  return out;
}

function reason(error: unknown): string {
  const code = error && typeof error === 'object' && 'code' in error ? String(error.code) : undefined;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  return code ?? String(error);
}

/** Reads every manifest of `paths` (files or folders, relative to `cwd`); file names are shown relative to `cwd`. */
export async function readManifestPaths(paths: readonly string[], cwd: string): Promise<Manifest[]> {
  const problems: Problem[] = [];
  const manifests: Manifest[] = [];
  for (const given of paths) {
    const full = path.resolve(cwd, given);
    let files: string[];
    try {
      files = (await stat(full)).isDirectory() ? await yamlFiles(full) : [full];
    } catch (error) {
      problems.push({ file: given, line: 0, column: 0, path: '', message: `cannot read: ${reason(error)}` });
      continue;
    }
    for (const file of files) {
      const shown = path.relative(cwd, file) || file;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        problems.push({
          file: shown,
          line: 0,
          column: 0,
          path: '',
          message: `cannot read: ${reason(error)}`,
        });
        continue;
      }
      const parsed = parseYaml(text, shown);
      if (!parsed.ok) {
        problems.push(...parsed.problems);
        continue;
      }
      for (const source of parsed.documents) {
        const object = source.value();
        if (object === null || object === undefined) continue;
        if (typeof object !== 'object' || Array.isArray(object)) {
          problems.push(source.problem([], 'a manifest document must be a Kubernetes object (a mapping)'));
          continue;
        }
        const o = object as Record<string, unknown>;
        const missing = ['apiVersion', 'kind'].filter((k) => typeof o[k] !== 'string');
        if (missing.length > 0) {
          problems.push(source.problem([], `a Kubernetes object needs ${missing.join(' and ')}`));
          continue;
        }
        manifests.push({ object: o, file: shown, line: source.start().line, source });
      }
    }
  }
  if (problems.length > 0) throw new InputError(problems);
  return manifests;
}
