/**
 * The evidence bundle: one `.tar.gz` an auditor can keep, with the results, the reports, the
 * scenario, the manifests applied, versions and logs, and a `SHA256SUMS` manifest (the format
 * `sha256sum -c` reads) over every other file. `verifyBundle` re-reads the archive and checks
 * that every listed file is there with its hash, and that nothing unlisted was added.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

import { create, Parser, type ReadEntry } from 'tar';
import { UserError } from '../errors.js';
import { inputFileRefusal } from '../input-file.js';
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

/**
 * What `verifyBundle` reads at most (README "Input limits"). A bundle holds reports, results and
 * logs: a few megabytes. An archive past these is refused before or while it is read, never
 * decompressed to the end (a small gzip can hold terabytes of zeros).
 */
export const BUNDLE_LIMITS = {
  /** The archive file itself, compressed. */
  archiveBytes: 512 * 1024 * 1024,
  /** Everything the archive decompresses to: entries, headers and padding. */
  totalBytes: 1024 * 1024 * 1024,
  /** One entry. */
  entryBytes: 256 * 1024 * 1024,
  /** Entries (files, folders, anything else). */
  entries: 10_000,
  /** The SHA256SUMS manifest, which is read into memory (every other entry is only hashed). */
  manifestBytes: 16 * 1024 * 1024,
} as const;

export type BundleLimits = { readonly [K in keyof typeof BUNDLE_LIMITS]: number };

/** The archive is larger than {@link BUNDLE_LIMITS} allow: nothing was judged (exit 2). */
export class BundleTooLarge extends UserError {
  override readonly name = 'BundleTooLarge';
}

const MIB = 1024 * 1024;
const mib = (n: number) => `${Number.isInteger(n / MIB) ? n / MIB : (n / MIB).toFixed(1)} MiB`;

interface Entries {
  /** SHA-256 of every regular file, by its path in the archive (the last one for a path given twice). */
  readonly digests: Map<string, string>;
  /** The content of the entries that may be the manifest (`<root>/SHA256SUMS`). */
  readonly manifests: Map<string, Buffer>;
  readonly odd: string[];
}

/**
 * Reads the archive as a stream, hashing each entry as it passes: memory stays small whatever
 * the archive holds. Gzip is decompressed here rather than inside tar, so that every byte it
 * decompresses to is counted against {@link BundleLimits.totalBytes}; a plain tar is read as is.
 */
async function readEntries(file: string, limits: BundleLimits): Promise<Entries> {
  const digests = new Map<string, string>();
  const manifests = new Map<string, Buffer>();
  const odd: string[] = [];
  let entries = 0;
  let total = 0;
  const controller = new AbortController();
  const tooLarge = (message: string) => {
    controller.abort(new BundleTooLarge(message));
  };
  const parser = new Parser({
    // The gzip layer is decompressed (and counted) below; nothing else is decompressed at all.
    zstd: false,
    brotli: false,
    onReadEntry: (entry: ReadEntry) => {
      entries++;
      if (entries > limits.entries) {
        tooLarge(
          `the bundle holds more than ${limits.entries.toLocaleString('en-US')} entries; verify-bundle reads at most that many`,
        );
        entry.resume();
        return;
      }
      if (entry.type === 'Directory') {
        entry.resume();
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile') {
        odd.push(`${entry.path} is a ${entry.type}, not a file`);
        entry.resume();
        return;
      }
      if (entry.size > limits.entryBytes) {
        tooLarge(
          `${entry.path} in the bundle is ${mib(entry.size)}; verify-bundle reads entries of at most ${mib(limits.entryBytes)}`,
        );
        entry.resume();
        return;
      }
      const candidate = entry.path.endsWith(`/${MANIFEST_NAME}`) && entry.path.split('/').length === 2;
      if (candidate && entry.size > limits.manifestBytes) {
        tooLarge(
          `${entry.path} in the bundle is ${mib(entry.size)}; verify-bundle reads a ${MANIFEST_NAME} of at most ${mib(limits.manifestBytes)}`,
        );
        entry.resume();
        return;
      }
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => {
        hash.update(c);
        if (candidate) chunks.push(c);
      });
      entry.on('end', () => {
        digests.set(entry.path, hash.digest('hex'));
        if (candidate) manifests.set(entry.path, Buffer.concat(chunks));
      });
    },
  });
  // After the end-of-archive blocks tar only pads. The parser keeps whatever follows in one
  // buffer it grows by copying (gigabytes for a gzip of zeros), so reading stops there.
  let ended = false;
  parser.on('eof', () => {
    ended = true;
    controller.abort(END_OF_ARCHIVE);
  });
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (ended) {
        done();
        return;
      }
      if (
        total === 0 &&
        (chunk.subarray(0, 2).equals(GZIP_MAGIC) || chunk.subarray(0, 4).equals(ZSTD_MAGIC))
      ) {
        done(new Error('the archive holds another compressed stream, not a tar archive'));
        return;
      }
      total += chunk.length;
      if (total > limits.totalBytes) {
        tooLarge(
          `the bundle decompresses to more than ${mib(limits.totalBytes)}; verify-bundle reads at most that much`,
        );
        done();
        return;
      }
      done(null, chunk);
    },
  });
  const gzipped = await startsWithGzipMagic(file);
  const signal = controller.signal;
  try {
    if (gzipped) await pipeline(createReadStream(file), createGunzip(), count, parser, { signal });
    else await pipeline(createReadStream(file), count, parser, { signal });
  } catch (error) {
    if (signal.aborted && signal.reason instanceof BundleTooLarge) throw signal.reason;
    if (!(signal.aborted && signal.reason === END_OF_ARCHIVE)) throw error;
  }
  if (signal.aborted && signal.reason instanceof BundleTooLarge) throw signal.reason;
  // Entries end on the parser's own tick; let the last one finish.
  await new Promise((resolve) => setImmediate(resolve));
  return { digests, manifests, odd };
}

const END_OF_ARCHIVE = Symbol('end of archive');
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

async function startsWithGzipMagic(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Checks the archive against its manifest. Problems with its content (a file missing, altered or
 * unlisted, not a .tar.gz at all) are returned; an archive past `limits` is refused with
 * {@link BundleTooLarge}.
 */
export async function verifyBundle(
  file: string,
  limits: BundleLimits = BUNDLE_LIMITS,
): Promise<BundleVerification> {
  const refusal = await inputFileRefusal(file, Number.MAX_SAFE_INTEGER);
  if (refusal !== undefined) throw new UserError(`${path.basename(file)}: cannot read: ${refusal}`);
  const size = (await stat(file)).size;
  if (size > limits.archiveBytes)
    throw new BundleTooLarge(
      `${path.basename(file)} is ${mib(size)}; verify-bundle reads archives of at most ${mib(limits.archiveBytes)}`,
    );
  const digest = await sha256File(file);
  let entries: Entries;
  try {
    entries = await readEntries(file, limits);
  } catch (error) {
    if (error instanceof BundleTooLarge) throw error;
    return {
      ok: false,
      problems: [`not a readable .tar.gz: ${messageOf(error)}`],
      checked: 0,
      sha256: digest,
    };
  }
  const problems = [...entries.odd];
  const manifestPath = [...entries.digests.keys()].find((p) => entries.manifests.has(p));
  if (!manifestPath)
    return {
      ok: false,
      problems: [...problems, `no ${MANIFEST_NAME} in the bundle`],
      checked: 0,
      sha256: digest,
    };
  const root = manifestPath.split('/')[0] ?? '';
  const listed = new Map<string, string>();
  const manifest = entries.manifests.get(manifestPath)?.toString('utf8') ?? '';
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
    const actual = entries.digests.get(`${root}/${name}`);
    if (actual === undefined) {
      problems.push(`${name} is listed in ${MANIFEST_NAME} but missing`);
      continue;
    }
    checked++;
    if (actual !== expected)
      problems.push(`${name} was altered: SHA-256 ${actual}, manifest says ${expected}`);
  }
  for (const p of entries.digests.keys()) {
    if (p === manifestPath) continue;
    const name = p.startsWith(`${root}/`) ? p.slice(root.length + 1) : p;
    if (!p.startsWith(`${root}/`) || !listed.has(name)) problems.push(`${p} is not in ${MANIFEST_NAME}`);
  }
  return { ok: problems.length === 0, problems, checked, sha256: digest, root };
}
