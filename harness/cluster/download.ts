/**
 * Release artifacts fetched once, checked against their published SHA-256, and cached under the
 * user's cache folder. A download whose checksum does not match is refused and nothing of it
 * stays on disk.
 */
import { homedir } from 'node:os';
import path from 'node:path';

import { UserError } from '../errors.js';
import type { StepLog } from './commands.js';
import { sha256 } from '../values.js';

/** `${XDG_CACHE_HOME:-~/.cache}/bulkhead`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME?.trim() ? env.XDG_CACHE_HOME : path.join(homedir(), '.cache');
  return path.join(base, 'bulkhead');
}

export interface VerifiedDownload {
  readonly bytes: Buffer;
  readonly sha256: string;
}

export interface DownloadProps {
  readonly url: string;
  /** The published checksum file: `<hex>  <name>` (sha256sum's format) or the bare hex. */
  readonly checksumUrl: string;
  readonly log: StepLog;
  readonly signal?: AbortSignal;
}

/** Fetches an artifact and its checksum; refuses it (UserError) when they disagree. */
export async function downloadVerified(props: DownloadProps): Promise<VerifiedDownload> {
  const name = path.posix.basename(new URL(props.url).pathname);
  props.log(`$ curl -fsSLo ${name} ${props.url}`);
  const bytes = await fetchBytes(props.url, props.signal);
  props.log(`$ curl -fsSL ${props.checksumUrl}  # expected SHA-256`);
  const published = parseChecksum((await fetchBytes(props.checksumUrl, props.signal)).toString('utf8'));
  if (!published) {
    throw new UserError(
      `${props.checksumUrl} holds no SHA-256; check the release URL (--istio-base-url) or the version`,
    );
  }
  props.log(`$ sha256sum ${name}  # must be ${published}`);
  const digest = sha256(bytes);
  if (digest !== published) {
    throw new UserError(
      `${name} from ${props.url} has SHA-256 ${digest} but the release publishes ${published}; nothing was cached, retry or check the mirror (--istio-base-url)`,
    );
  }
  return { bytes, sha256: digest };
}

export interface PinnedDownloadProps {
  readonly url: string;
  /** The SHA-256 bulkhead pins for it (lower-case hex), where no checksum file is published. */
  readonly sha256: string;
  readonly log: StepLog;
  /** Names the flag that moves the download to a mirror, for the refusal. */
  readonly mirrorFlag: string;
  readonly signal?: AbortSignal;
}

/**
 * Fetches an artifact whose checksum bulkhead pins itself (no published checksum file to fetch);
 * refuses it (UserError) when its bytes hash otherwise.
 */
export async function downloadPinned(props: PinnedDownloadProps): Promise<VerifiedDownload> {
  const name = path.posix.basename(new URL(props.url).pathname);
  props.log(`$ curl -fsSLo ${name} ${props.url}`);
  const bytes = await fetchBytes(props.url, props.signal);
  props.log(`$ sha256sum ${name}  # must be ${props.sha256}`);
  const digest = sha256(bytes);
  if (digest !== props.sha256) {
    throw new UserError(
      `${name} from ${props.url} has SHA-256 ${digest} but bulkhead pins ${props.sha256}; nothing was cached, retry or check the mirror (${props.mirrorFlag})`,
    );
  }
  return { bytes, sha256: digest };
}

/** The first 64-hex-digit word of a checksum file. */
export function parseChecksum(text: string): string | undefined {
  return /\b([0-9a-f]{64})\b/i.exec(text)?.[1]?.toLowerCase();
}

async function fetchBytes(url: string, signal: AbortSignal | undefined): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', ...(signal ? { signal } : {}) });
  } catch (error) {
    const cause =
      error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
    throw new UserError(`cannot download ${url} (${cause}); check the network or the mirror URL`);
  }
  if (!response.ok) {
    throw new UserError(
      `cannot download ${url}: HTTP ${String(response.status)}; check the version and the mirror URL`,
    );
  }
  return Buffer.from(await response.arrayBuffer());
}
