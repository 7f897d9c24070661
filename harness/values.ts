/**
 * Small facts about plain values that many modules need, in one place: whether a parsed value
 * is an object, the message of anything thrown, the SHA-256 of a text or file. Node built-ins
 * only, so the agent bundle may use them too.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** A JSON/YAML object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The message of whatever was thrown: an Error's message, anything else as a string. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Lower-case hex SHA-256 of a text (as UTF-8) or bytes. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Lower-case hex SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
