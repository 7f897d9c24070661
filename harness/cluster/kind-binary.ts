/**
 * Which kind runs: the one on PATH when it is at least the release that built the pinned node
 * image; otherwise that release, downloaded once (kind-linux-<arch> and its .sha256sum),
 * verified, and cached under `<cache>/kind/<release>-<arch>/kind`.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { UserError } from '../errors.js';
import type { CommandRunner } from './commands.js';
import { downloadVerified } from './download.js';
import { compareVersions } from './preflight.js';
import type { NodeImage } from './versions.js';

export const KIND_RELEASES = 'https://github.com/kubernetes-sigs/kind/releases/download';

export interface KindBinary {
  /** `kind` (from PATH) or the cached binary's path. */
  readonly path: string;
  /** `v0.31.0` */
  readonly version: string;
}

export interface ResolveKindProps {
  readonly runner: CommandRunner;
  readonly image: NodeImage;
  readonly cache: string;
  /** Mirror of the kind releases: `<base>/<release>/kind-linux-<arch>`. @default GitHub releases */
  readonly baseUrl?: string;
  /** @default this machine's (amd64 or arm64) */
  readonly arch?: string;
  readonly signal?: AbortSignal;
}

export function kindArch(nodeArch: string = process.arch): string {
  if (nodeArch === 'x64') return 'amd64';
  if (nodeArch === 'arm64') return 'arm64';
  throw new UserError(`kind publishes no binary for the ${nodeArch} architecture; run on amd64 or arm64`);
}

/** kind's version from `kind version` output (`kind v0.31.0 go1.25.5 linux/amd64`). */
async function versionOf(runner: CommandRunner, file: string): Promise<string | undefined> {
  const r = await runner.try(file, ['version'], { timeoutMs: 30_000 });
  if (r.failed) return undefined;
  return /\bv\d+\.\d+\.\d+\b/.exec(r.stdout)?.[0];
}

export async function resolveKind(props: ResolveKindProps): Promise<KindBinary> {
  const { runner, image } = props;
  const onPath = await versionOf(runner, 'kind');
  if (onPath && compareVersions(onPath, image.kindRelease) >= 0) return { path: 'kind', version: onPath };
  runner.log(
    `# ${onPath ? `kind ${onPath} on PATH is older than ${image.kindRelease}` : 'no kind on PATH'}, which the node image for Kubernetes ${image.kubernetes} needs: using kind ${image.kindRelease}`,
  );
  const arch = props.arch ?? kindArch();
  const dir = path.join(props.cache, 'kind', `${image.kindRelease}-${arch}`);
  const binary = path.join(dir, 'kind');
  if (!existsSync(binary)) {
    const url = `${(props.baseUrl ?? KIND_RELEASES).replace(/\/+$/, '')}/${image.kindRelease}/kind-linux-${arch}`;
    const { bytes } = await downloadVerified({
      url,
      checksumUrl: `${url}.sha256sum`,
      log: runner.log,
      ...(props.signal ? { signal: props.signal } : {}),
    });
    await mkdir(dir, { recursive: true });
    const staging = `${binary}.partial`;
    try {
      await writeFile(staging, bytes, { mode: 0o755 });
      await chmod(staging, 0o755);
      await rename(staging, binary);
    } catch (error) {
      await rm(staging, { force: true });
      throw error;
    }
    runner.log(`$ install -m 0755 kind-linux-${arch} ${binary}`);
  }
  const version = await versionOf(runner, binary);
  if (!version) {
    await rm(dir, { recursive: true, force: true });
    throw new UserError(
      `the kind ${image.kindRelease} binary in ${dir} does not run; check --kind-base-url and retry`,
    );
  }
  return { path: binary, version };
}

/** kind on PATH, else the newest cached kind (for `bulkhead down` on a machine without kind). */
export async function anyKind(runner: CommandRunner, cache: string): Promise<string | undefined> {
  if (await versionOf(runner, 'kind')) return 'kind';
  const root = path.join(cache, 'kind');
  const cached = existsSync(root) ? (await readdir(root)).sort((a, b) => compareVersions(b, a)) : [];
  for (const entry of cached) {
    const binary = path.join(root, entry, 'kind');
    if (existsSync(binary)) return binary;
  }
  return undefined;
}
