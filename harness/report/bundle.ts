/**
 * The evidence bundle: one `.tar.gz` an auditor can keep, with the results, the reports, the
 * scenario, the manifests applied, versions and logs, and a `SHA256SUMS` manifest (the format
 * `sha256sum -c` reads) over every other file. `verifyBundle` re-reads the archive and checks
 * that every listed file is there with its hash, and that nothing unlisted was added.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { create, list, type ReadEntry } from 'tar';
import { messageOf, sha256, sha256File } from '../values.js';

export const MANIFEST_NAME = 'SHA256SUMS';

export interface BundleFile {
  /** Path inside the bundle, `/`-separated, relative (e.g. `reports/junit.xml`). */
  readonly name: string;
  readonly content: string | Buffer;
}

export interface WriteBundleProps {
  /** The archive to write (`.tar.gz`). */
  readonly file: string;
  /** Top folder inside the archive, e.g. `bulkhead-<run id>`. */
  readonly root: string;
  readonly files: readonly BundleFile[];
  /** Stored as every entry's mtime, so the same inputs give the same archive. @default the epoch */
  readonly mtime?: Date;
}

export interface WrittenBundle {
  readonly file: string;
  /** SHA-256 of the archive itself, to record outside it. */
  readonly sha256: string;
  readonly entries: number;
}

const SAFE_NAME = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[\w.@+-]+(?:\/[\w.@+-]+)*$/;

export function manifestText(files: readonly BundleFile[]): string {
  return [...files]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((f) => `${sha256(f.content)}  ${f.name}\n`)
    .join('');
}

export async function writeBundle(props: WriteBundleProps): Promise<WrittenBundle> {
  const names = new Set<string>();
  for (const f of props.files) {
    if (!SAFE_NAME.test(f.name) || f.name === MANIFEST_NAME)
      throw new Error(`bundle entry name not allowed: ${JSON.stringify(f.name)}`);
    if (names.has(f.name)) throw new Error(`bundle entry twice: ${f.name}`);
    names.add(f.name);
  }
  if (!SAFE_NAME.test(props.root) || props.root.includes('/'))
    throw new Error(`bundle root not allowed: ${props.root}`);
  const staging = await mkdtemp(path.join(tmpdir(), 'bulkhead-bundle-'));
  try {
    const all: BundleFile[] = [...props.files, { name: MANIFEST_NAME, content: manifestText(props.files) }];
    for (const f of all) {
      const target = path.join(staging, props.root, ...f.name.split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, f.content);
    }
    await mkdir(path.dirname(props.file), { recursive: true });
    await create(
      {
        gzip: true,
        file: props.file,
        cwd: staging,
        portable: true,
        mtime: props.mtime ?? new Date(0),
      },
      all.map((f) => `${props.root}/${f.name}`).sort(),
    );
    return { file: props.file, sha256: await sha256File(props.file), entries: all.length };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export interface BundleVerification {
  readonly ok: boolean;
  /** What does not match, one sentence each; empty when ok. */
  readonly problems: readonly string[];
  /** Files checked against the manifest. */
  readonly checked: number;
  readonly sha256: string;
  readonly root?: string;
}

/** Reads every entry of the archive into memory (bundles are reports, not images). */
async function readEntries(file: string): Promise<{ files: Map<string, Buffer>; odd: string[] }> {
  const files = new Map<string, Buffer>();
  const odd: string[] = [];
  await list({
    file,
    onReadEntry: (entry: ReadEntry) => {
      if (entry.type === 'Directory') {
        entry.resume();
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile') {
        odd.push(`${entry.path} is a ${entry.type}, not a file`);
        entry.resume();
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => files.set(entry.path, Buffer.concat(chunks)));
    },
  });
  return { files, odd };
}

export async function verifyBundle(file: string): Promise<BundleVerification> {
  const digest = await sha256File(file);
  let entries: Awaited<ReturnType<typeof readEntries>>;
  try {
    entries = await readEntries(file);
  } catch (error) {
    return {
      ok: false,
      problems: [`not a readable .tar.gz: ${messageOf(error)}`],
      checked: 0,
      sha256: digest,
    };
  }
  const problems = [...entries.odd];
  const manifestPath = [...entries.files.keys()].find(
    (p) => p.endsWith(`/${MANIFEST_NAME}`) && p.split('/').length === 2,
  );
  if (!manifestPath)
    return {
      ok: false,
      problems: [...problems, `no ${MANIFEST_NAME} in the bundle`],
      checked: 0,
      sha256: digest,
    };
  const root = manifestPath.split('/')[0] ?? '';
  const listed = new Map<string, string>();
  const manifest = entries.files.get(manifestPath)?.toString('utf8') ?? '';
  for (const [i, line] of manifest.split('\n').entries()) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!m?.[1] || !m[2]) {
      problems.push(`${MANIFEST_NAME} line ${i + 1} is not "<sha256>  <path>"`);
      continue;
    }
    listed.set(m[2], m[1]);
  }
  let checked = 0;
  for (const [name, expected] of listed) {
    const content = entries.files.get(`${root}/${name}`);
    if (!content) {
      problems.push(`${name} is listed in ${MANIFEST_NAME} but missing`);
      continue;
    }
    checked++;
    const actual = sha256(content);
    if (actual !== expected)
      problems.push(`${name} was altered: SHA-256 ${actual}, manifest says ${expected}`);
  }
  for (const p of entries.files.keys()) {
    if (p === manifestPath) continue;
    const name = p.startsWith(`${root}/`) ? p.slice(root.length + 1) : p;
    if (!p.startsWith(`${root}/`) || !listed.has(name)) problems.push(`${p} is not in ${MANIFEST_NAME}`);
  }
  return { ok: problems.length === 0, problems, checked, sha256: digest, root };
}
