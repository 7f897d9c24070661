/**
 * Files of the bulkhead package itself (package.json, the policy data and schemas, the agent
 * bundle), found from the package root. The same code runs from the TypeScript sources
 * (harness/, under tsx: tests and scripts) and from the compiled build (dist/harness/), one level
 * deeper, so nothing may count `../` from its own file: the root is the nearest folder above this
 * module whose package.json names bulkhead, found once, and every file is named from there
 * (`packageFile('harness/policies/data/article-manifests.yaml')`). Data files are not copied into
 * dist/; the package ships them at the same paths (package.json `files`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The fields of bulkhead's own package.json that bulkhead reads. */
export interface PackageManifest {
  readonly name: string;
  readonly version: string;
}

interface Found {
  readonly root: string;
  readonly manifest: PackageManifest;
}

const PACKAGE_NAME = 'bulkhead';
let found: Found | undefined;

function find(): Found {
  if (found) return found;
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = readManifest(path.join(dir, 'package.json'));
    if (manifest?.name === PACKAGE_NAME) return (found = { root: dir, manifest });
    if (path.dirname(dir) === dir)
      throw new Error(`no package.json naming ${PACKAGE_NAME} in ${start} or a folder above it`);
  }
}

function readManifest(file: string): PackageManifest | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as PackageManifest;
}

/** The package root: the checkout, or node_modules/bulkhead. */
export function packageRoot(): string {
  return find().root;
}

/** bulkhead's package.json, read once. */
export function packageManifest(): PackageManifest {
  return find().manifest;
}

/** A file of the package, by its path from the package root (`/`-separated). */
export function packageFile(relative: string): string {
  return path.join(find().root, ...relative.split('/'));
}

/** The same as a file: URL; a trailing `/` is kept, so the URL can be a base for `new URL(name, base)`. */
export function packageUrl(relative: string): URL {
  return new URL(relative, pathToFileURL(`${find().root}${path.sep}`));
}
