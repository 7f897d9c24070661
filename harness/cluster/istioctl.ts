/**
 * istioctl of the requested version: downloaded once from the release (istioctl-<v>-linux-<arch>.tar.gz
 * and its .sha256), verified, unpacked into `<cache>/istio/<v>/istioctl`, and reused after.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { x as untar } from 'tar';

import { UserError } from '../errors.js';
import type { StepLog } from './commands.js';
import { downloadVerified } from './download.js';

export const ISTIO_RELEASES = 'https://github.com/istio/istio/releases/download';

export interface IstioctlProps {
  readonly version: string;
  /** The cache folder (see cacheRoot). */
  readonly cache: string;
  readonly log: StepLog;
  /** Where releases are downloaded from: `<base>/<v>/istioctl-<v>-linux-<arch>.tar.gz`. @default GitHub releases */
  readonly baseUrl?: string;
  /** @default this machine's (amd64 or arm64) */
  readonly arch?: string;
  readonly signal?: AbortSignal;
}

export interface Istioctl {
  readonly path: string;
  readonly version: string;
  /** SHA-256 of the archive it came from (recorded with the run). */
  readonly archiveSha256: string;
  readonly cached: boolean;
}

export function istioArch(nodeArch: string = process.arch): string {
  if (nodeArch === 'x64') return 'amd64';
  if (nodeArch === 'arm64') return 'arm64';
  if (nodeArch === 'arm') return 'armv7';
  throw new UserError(`Istio publishes no istioctl for the ${nodeArch} architecture; run on amd64 or arm64`);
}

export function istioctlUrl(version: string, arch: string, baseUrl: string = ISTIO_RELEASES): string {
  return `${baseUrl.replace(/\/+$/, '')}/${version}/istioctl-${version}-linux-${arch}.tar.gz`;
}

export async function ensureIstioctl(props: IstioctlProps): Promise<Istioctl> {
  const arch = props.arch ?? istioArch();
  const dir = path.join(props.cache, 'istio', `${props.version}-${arch}`);
  const binary = path.join(dir, 'istioctl');
  const shaFile = path.join(dir, 'archive.sha256');
  if (existsSync(binary) && existsSync(shaFile)) {
    props.log(`# istioctl ${props.version} from the cache: ${binary}`);
    return {
      path: binary,
      version: props.version,
      archiveSha256: (await readFile(shaFile, 'utf8')).trim(),
      cached: true,
    };
  }
  const url = istioctlUrl(props.version, arch, props.baseUrl);
  const { bytes, sha256 } = await downloadVerified({
    url,
    checksumUrl: `${url}.sha256`,
    log: props.log,
    ...(props.signal ? { signal: props.signal } : {}),
  });
  // Unpack beside the final folder and move it in at once: a crash leaves no half-filled cache.
  await mkdir(path.dirname(dir), { recursive: true });
  const staging = await mkdtemp(`${dir}.partial-`);
  try {
    const archive = path.join(staging, path.posix.basename(new URL(url).pathname));
    await writeFile(archive, bytes);
    props.log(`$ tar -xzf ${path.basename(archive)} -C ${dir} istioctl`);
    await untar({ file: archive, cwd: staging, filter: (p) => p.replace(/^\.\//, '') === 'istioctl' });
    await rm(archive);
    if (!existsSync(path.join(staging, 'istioctl'))) {
      throw new UserError(`${url} holds no istioctl binary; check the version and the mirror URL`);
    }
    await chmod(path.join(staging, 'istioctl'), 0o755);
    await writeFile(path.join(staging, 'archive.sha256'), `${sha256}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { path: binary, version: props.version, archiveSha256: sha256, cached: false };
}
