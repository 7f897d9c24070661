/**
 * Manifest files and folders as given on a command line, read into located manifests. Folders
 * are read recursively (`*.yaml`, `*.yml`, in name order; symbolic links to folders are not
 * followed, so a link loop cannot recurse). Every file goes through the shared input reader
 * (harness/input-file.ts: regular files only, at most 10 MiB, UTF-8 text) and the YAML limits of
 * harness/yaml-source.ts; all the files of one command hold at most
 * {@link MAX_MANIFEST_VALUES} YAML values together. Anything unreadable or not a Kubernetes
 * object is a problem of the input: all of them are reported together.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { InputError, type Problem } from '../errors.js';
import { fileProblem, readInputFile, reason } from '../input-file.js';
import type { Manifest } from '../scenario/types.js';
import { parseYaml, type YamlDocument } from '../yaml-source.js';

/**
 * YAML values (scalars, lists, mappings) all manifest files of one command may hold together:
 * parsed documents stay in memory (for the positions of findings), about 1 KB per value.
 */
export const MAX_MANIFEST_VALUES = 1_000_000;

/** What the manifest files of one command have used of {@link MAX_MANIFEST_VALUES}. */
export class ManifestBudget {
  values = 0;
  exceeded = false;
  readonly limit: number;
  constructor(limit = MAX_MANIFEST_VALUES) {
    this.limit = limit;
  }
}

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

/**
 * One manifest file: read, parsed, and its documents kept when they are Kubernetes objects.
 * Problems (the file, its YAML, documents that are not objects) go to `problems`; `noun` names a
 * document in them ("a manifest document must be …").
 */
export async function readManifestFile(
  file: string,
  shown: string,
  problems: Problem[],
  budget: ManifestBudget,
  noun = 'manifest',
): Promise<Manifest[]> {
  if (budget.exceeded) return [];
  let text: string;
  try {
    text = await readInputFile(file, { shownAs: shown });
  } catch (error) {
    if (error instanceof InputError) {
      problems.push(...error.problems);
      return [];
    }
    throw error;
  }
  const parsed = parseYaml(text, shown);
  if (!parsed.ok) {
    problems.push(...parsed.problems);
    return [];
  }
  budget.values += parsed.nodes;
  if (budget.values > budget.limit) {
    budget.exceeded = true;
    problems.push(
      fileProblem(
        shown,
        `the manifest files given hold more than ${budget.limit.toLocaleString('en-US')} YAML values together (this file is where the total passes it); give fewer files at a time`,
      ),
    );
    return [];
  }
  return kubernetesObjects(parsed.documents, shown, problems, noun);
}

/** Keeps the documents that are Kubernetes objects; anything else is a problem, empty documents are skipped. */
export function kubernetesObjects(
  documents: readonly YamlDocument[],
  file: string,
  problems: Problem[],
  noun = 'manifest',
): Manifest[] {
  const manifests: Manifest[] = [];
  for (const source of documents) {
    const object = source.value();
    if (object === null || object === undefined) continue;
    if (typeof object !== 'object' || Array.isArray(object)) {
      problems.push(source.problem([], `a ${noun} document must be a Kubernetes object (a mapping)`));
      continue;
    }
    const o = object as Record<string, unknown>;
    const missing = ['apiVersion', 'kind'].filter((k) => typeof o[k] !== 'string');
    if (missing.length > 0) {
      problems.push(source.problem([], `a Kubernetes object needs ${missing.join(' and ')}`));
      continue;
    }
    manifests.push({ object: o, file, line: source.start().line, source });
  }
  return manifests;
}

/** Reads every manifest of `paths` (files or folders, relative to `cwd`); file names are shown relative to `cwd`. */
export async function readManifestPaths(paths: readonly string[], cwd: string): Promise<Manifest[]> {
  const problems: Problem[] = [];
  const manifests: Manifest[] = [];
  const budget = new ManifestBudget();
  for (const given of paths) {
    const full = path.resolve(cwd, given);
    let files: string[];
    try {
      files = (await stat(full)).isDirectory() ? await yamlFiles(full) : [full];
    } catch (error) {
      problems.push(fileProblem(given, `cannot read: ${reason(error)}`));
      continue;
    }
    for (const file of files) {
      const shown = path.relative(cwd, file) || file;
      manifests.push(...(await readManifestFile(file, shown, problems, budget)));
    }
  }
  if (problems.length > 0) throw new InputError(problems);
  return manifests;
}
