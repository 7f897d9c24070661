/**
 * Reading a file the user names (a scenario, manifests, a results.json, a kubeconfig): one
 * reader for every input path, so each refuses the same things with the same sentence
 * (README "Input limits"):
 *
 * - what is not a regular file, before it is opened: a folder, a FIFO (which would block the
 *   read forever), a socket or a device; a missing file; a symbolic link loop;
 * - a file larger than {@link MAX_INPUT_BYTES}, by its size on disk, before a byte is read;
 * - bytes that are not text: a NUL byte (a binary file, or UTF-16) or a sequence that is not
 *   UTF-8, with the line it is on.
 *
 * The file is opened non-blocking and checked again on the open descriptor, so one swapped
 * for a FIFO between the check and the open cannot hang the read either.
 */
import { isUtf8 } from 'node:buffer';
import { constants, type Stats } from 'node:fs';
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';

import { InputError, type Problem } from './errors.js';

/** The largest input file bulkhead reads: 10 MiB. */
export const MAX_INPUT_BYTES = 10 * 1024 * 1024;

/** Reads go in pieces of at most this many bytes. */
const CHUNK = 1024 * 1024;

export interface InputFileOptions {
  /** Names the file in messages; default the path as given. */
  readonly shownAs?: string;
  /** @default MAX_INPUT_BYTES */
  readonly maxBytes?: number;
  /**
   * The message for a file that cannot be read at all, from the reason (`no such file or
   * directory`, `it is a folder, not a file`). @default `cannot read: <reason>`
   */
  readonly describe?: (reason: string) => string;
}

const cannotRead = (why: string) => `cannot read: ${why}`;

/** Reads a text input file; every refusal is an {@link InputError} naming the file. */
export async function readInputFile(file: string, options: InputFileOptions = {}): Promise<string> {
  const shown = options.shownAs ?? file;
  const max = options.maxBytes ?? MAX_INPUT_BYTES;
  const fail = (why: string) => fileError(shown, (options.describe ?? cannotRead)(why));
  let info: Stats;
  try {
    info = await stat(file);
  } catch (error) {
    throw fail(reason(error));
  }
  checkStats(info, max, fail);
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fail(reason(error));
  }
  try {
    const opened = await handle.stat();
    checkStats(opened, max, fail);
    info = opened;
    const chunks: Buffer[] = [];
    let length = 0;
    // Until the end, or one byte past the limit (a file that grew since the check).
    while (length <= max) {
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(info.size - length, 0) + 1, CHUNK));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
    }
    return decodeText(Buffer.concat(chunks, length), shown, max, fail);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw fail(reason(error));
  } finally {
    await handle.close();
  }
}

/** {@link readInputFile} for callers that must stay synchronous (the kubeconfig loader). */
export function readInputFileSync(file: string, options: InputFileOptions = {}): string {
  const shown = options.shownAs ?? file;
  const max = options.maxBytes ?? MAX_INPUT_BYTES;
  const fail = (why: string) => fileError(shown, (options.describe ?? cannotRead)(why));
  let info: Stats;
  try {
    info = statSync(file);
  } catch (error) {
    throw fail(reason(error));
  }
  checkStats(info, max, fail);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fail(reason(error));
  }
  try {
    const opened = fstatSync(fd);
    checkStats(opened, max, fail);
    const chunks: Buffer[] = [];
    let length = 0;
    while (length <= max) {
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(opened.size - length, 0) + 1, CHUNK));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      length += n;
    }
    return decodeText(Buffer.concat(chunks, length), shown, max, fail);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw fail(reason(error));
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `file` can be read as an input file, as a sentence (undefined when it can): what
 * {@link readInputFile} checks before opening, for callers that pass the file on to a reader of
 * their own (a tar archive).
 */
export async function inputFileRefusal(file: string, maxBytes: number): Promise<string | undefined> {
  let info: Stats;
  try {
    info = await stat(file);
  } catch (error) {
    return reason(error);
  }
  return statsRefusal(info, maxBytes);
}

function checkStats(info: Stats, max: number, fail: (why: string) => InputError): void {
  const refusal = statsRefusal(info, max);
  if (refusal !== undefined) throw fail(refusal);
}

function statsRefusal(info: Stats, max: number): string | undefined {
  if (info.isDirectory()) return 'it is a folder, not a file';
  if (!info.isFile()) return `it is ${kindOf(info)}, not a regular file`;
  if (info.size > max)
    return `it is ${sizeText(info.size)}; bulkhead reads input files of at most ${sizeText(max)}`;
  return undefined;
}

function kindOf(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** `10 MiB`, `1.5 MiB`, `812 KiB`, `12 bytes`. */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) {
    const mib = bytes / (1024 * 1024);
    return `${Number.isInteger(mib) ? mib : mib.toFixed(1)} MiB`;
  }
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} bytes`;
}

/** The bytes as text: refused when they hold a NUL byte or are not UTF-8; a leading BOM is dropped. */
function decodeText(bytes: Buffer, shown: string, max: number, fail: (why: string) => InputError): string {
  if (bytes.length > max)
    throw fail(
      `it grew past ${sizeText(max)} while it was read; bulkhead reads input files of at most ${sizeText(max)}`,
    );
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const { line, column } = positionOf(bytes, nul);
    throw new InputError([
      {
        file: shown,
        line,
        column,
        path: '',
        message:
          'holds a NUL byte: this is a binary file, or text in UTF-16; bulkhead reads YAML and JSON as UTF-8 text',
      },
    ]);
  }
  if (!isUtf8(bytes)) {
    const bad = firstInvalidUtf8(bytes);
    const { line, column } = positionOf(bytes, bad);
    throw new InputError([
      {
        file: shown,
        line,
        column,
        path: '',
        message: `byte 0x${(bytes[bad] ?? 0).toString(16).padStart(2, '0')} is not UTF-8 text; save the file as UTF-8`,
      },
    ]);
  }
  return new TextDecoder('utf-8').decode(bytes);
}

/** 1-based line and column (in characters) of byte `offset`. */
function positionOf(bytes: Buffer, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = bytes.indexOf(10); i !== -1 && i < offset; i = bytes.indexOf(10, i + 1)) {
    line++;
    start = i + 1;
  }
  // Characters before the offset on its line: count the bytes that start a character.
  let column = 1;
  for (let i = start; i < offset; i++) if (((bytes[i] ?? 0) & 0xc0) !== 0x80) column++;
  return { line, column };
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let max = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = b === 0xe0 ? 0xa0 : 0x80; // no overlong forms
      if (b === 0xed) max = 0x9f; // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = b === 0xf0 ? 0x90 : 0x80;
      if (b === 0xf4) max = 0x8f; // nothing past U+10FFFF
    } else {
      return i;
    }
    const second = bytes[i + 1];
    if (second === undefined || second < min || second > max) return i;
    for (let k = 2; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return bytes.length;
}

function fileError(shown: string, message: string): InputError {
  return new InputError([{ file: shown, line: 0, column: 0, path: '', message }]);
}

/** A failed stat or open as a sentence. */
export function reason(error: unknown): string {
  const code = error && typeof error === 'object' && 'code' in error ? String(error.code) : '';
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a folder, not a file';
    case 'ELOOP':
      return 'its path goes through a loop of symbolic links (ELOOP)';
    case 'ENOTDIR':
      return 'a part of the path is not a folder (ENOTDIR)';
    case 'ENAMETOOLONG':
      return 'the path is too long (ENAMETOOLONG)';
    case 'EAGAIN':
    case 'EWOULDBLOCK':
      return 'it cannot be read without waiting (not a regular file)';
    default:
      return code || (error instanceof Error ? error.message : String(error));
  }
}

/** A problem for a whole input file. */
export function fileProblem(file: string, message: string): Problem {
  return { file, line: 0, column: 0, path: '', message };
}
