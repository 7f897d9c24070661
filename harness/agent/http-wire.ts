/**
 * HTTP/1.1 on the wire for the probe's one request per connection: the request's bytes, and a
 * strict, incremental reader of the one response (RFC 9112 §2-§7). It exists because Node's
 * `http` client costs the agent about twice the CPU of the exchange itself per attempt (the
 * Agent, ClientRequest and IncomingMessage streams), in processes that each run only a few dozen
 * attempts, so the code never warms up.
 *
 * Strict as Node's own parser (llhttp, lenient flags off) is where it matters to a verdict: a
 * response it cannot read exactly is a {@link WireError}, which the probe reports as `error`,
 * never as a deny. It rejects a malformed status line, a header line that is not `token: value`,
 * control characters in a value, a bare CR or LF, obsolete line folding, headers over Node's
 * default 16 KiB limit (`--max-http-header-size`), a Content-Length that is not digits or comes
 * twice, Content-Length with Transfer-Encoding, and a malformed chunk. The error codes are
 * llhttp's names for the same faults (`HPE_*`), so the evidence reads as it did through Node.
 */

/** Node's default `--max-http-header-size`: the status line and the headers together. */
export const HEAD_LIMIT = 16 * 1024;
/** The longest chunk-size line or trailer line read; no sane server comes near it. */
const LINE_LIMIT = 4 * 1024;
/** The blank line that ends a head. */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** Response headers as Node's `IncomingMessage.headers` holds them (names lower-cased). */
export type WireHeaders = Record<string, string | string[]>;

/**
 * Headers whose repeats Node discards, keeping the first (nodejs/node doc/api/http.md,
 * `message.headers`); `set-cookie` is always an array, `cookie` joins with `; `, the rest with `, `.
 */
const SINGLE = new Set(
  (
    'age authorization content-length content-type etag expires from host if-modified-since ' +
    'if-unmodified-since last-modified location max-forwards proxy-authorization referer ' +
    'retry-after server user-agent'
  ).split(' '),
);

/** A response that is not HTTP/1.x as RFC 9112 writes it. */
export class WireError extends Error {
  override readonly name = 'WireError';
  /** llhttp's name for the fault, or Node's for a request it would not send. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The request's bytes: request line, then the headers as given, then the body. What Node's
 * client would refuse to send (a header name that is not a token, a control character in a value
 * or the path) is refused here too, with Node's error codes.
 */
export function requestBytes(
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
  body?: Buffer,
): Buffer {
  if (/[^\u0021-\u00ff]/.test(path))
    throw new WireError('ERR_UNESCAPED_CHARACTERS', 'Request path contains unescaped characters');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const name in headers) {
    const value = headers[name] ?? '';
    if (!TOKEN.test(name))
      throw new WireError('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
    // A CR or LF would end the header early and smuggle the rest in as headers of their own.
    if (!FIELD_VALUE.test(value))
      throw new WireError('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
    head += `${name}: ${value}\r\n`;
  }
  head += '\r\n';
  return body === undefined || body.length === 0
    ? Buffer.from(head, 'latin1')
    : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const FIELD_LINE =
  /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*((?:[\x21-\x7e\x80-\xff]+(?:[\t ]+[\x21-\x7e\x80-\xff]+)*)?)[\t ]*$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,13})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;

type BodyMode =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; left: number }
  | { readonly kind: 'close' }
  | { readonly kind: 'chunked'; state: 'size' | 'data' | 'data-end' | 'trailer'; left: number; line: string };

/**
 * Reads one response as its bytes arrive, in any split. Informational (1xx) heads before the
 * final one are skipped, as Node's client skips them.
 */
export class ResponseReader {
  /** Set once the final head is read. */
  status: number | undefined;
  headers: WireHeaders = {};
  /** The body as far as it was read, de-chunked. */
  readonly body: Buffer[] = [];
  bodyBytes = 0;
  /** The whole response has been read. */
  complete = false;

  #head: Buffer | undefined;
  #mode: BodyMode | undefined;

  readonly #noBody: boolean;

  /** @param noBody the request was HEAD: the answer has no body whatever its headers say. */
  constructor(noBody = false) {
    this.#noBody = noBody;
  }

  /** Takes the next bytes; throws WireError when they are not a response. */
  push(chunk: Buffer): void {
    if (this.complete) return;
    if (this.#mode === undefined) {
      const rest = this.#readHead(chunk);
      if (rest === undefined) return;
      chunk = rest;
    }
    if (chunk.length > 0) this.#readBody(chunk);
  }

  /**
   * The connection ended: true when the response is complete, false when its body was cut
   * short. Throws WireError when it ended before the head did (with no byte at all, the caller
   * decides: that is an empty reply, not a malformed one).
   */
  end(): boolean {
    if (this.complete) return true;
    if (this.#mode === undefined)
      throw new WireError(
        'HPE_INVALID_EOF_STATE',
        `the connection closed after ${this.#head?.length ?? 0} bytes, before the response's headers ended`,
      );
    if (this.#mode.kind === 'close') this.complete = true;
    return this.complete;
  }

  /** Returns the bytes after the final head, or undefined while the head is still arriving. */
  #readHead(chunk: Buffer): Buffer | undefined {
    let buffer = this.#head ? Buffer.concat([this.#head, chunk]) : chunk;
    for (;;) {
      const from = this.#head ? Math.max(0, this.#head.length - 3) : 0;
      const end = buffer.indexOf(HEAD_END, from);
      if (end < 0) {
        if (buffer.length > HEAD_LIMIT) throw new WireError('HPE_HEADER_OVERFLOW', 'Header overflow');
        this.#head = buffer;
        return undefined;
      }
      if (end > HEAD_LIMIT) throw new WireError('HPE_HEADER_OVERFLOW', 'Header overflow');
      this.#head = undefined;
      const { status, headers } = parseHead(buffer.toString('latin1', 0, end));
      buffer = buffer.subarray(end + 4);
      // 1xx but 101: an interim answer; the final one follows on the same connection.
      if (status >= 100 && status < 200 && status !== 101) {
        if (buffer.length === 0) return undefined;
        continue;
      }
      this.status = status;
      this.headers = headers;
      this.#mode = bodyMode(status, headers, this.#noBody);
      if (this.#mode.kind === 'none' || (this.#mode.kind === 'length' && this.#mode.left === 0))
        this.complete = true;
      return buffer;
    }
  }

  #take(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.body.push(bytes);
    this.bodyBytes += bytes.length;
  }

  #readBody(chunk: Buffer): void {
    const mode = this.#mode;
    if (mode === undefined || mode.kind === 'none') return;
    if (mode.kind === 'close') {
      this.#take(chunk);
      return;
    }
    if (mode.kind === 'length') {
      // Bytes past the length are not this response's (the request asked to close after it).
      const part = chunk.length > mode.left ? chunk.subarray(0, mode.left) : chunk;
      this.#take(part);
      mode.left -= part.length;
      if (mode.left === 0) this.complete = true;
      return;
    }
    let at = 0;
    while (at < chunk.length && !this.complete) {
      if (mode.state === 'data') {
        const part = chunk.subarray(at, at + mode.left);
        this.#take(part);
        at += part.length;
        mode.left -= part.length;
        if (mode.left === 0) mode.state = 'data-end';
        continue;
      }
      const lf = chunk.indexOf(10, at);
      const piece = chunk.toString('latin1', at, lf < 0 ? chunk.length : lf + 1);
      at = lf < 0 ? chunk.length : lf + 1;
      mode.line += piece;
      if (lf < 0) {
        if (mode.line.length > LINE_LIMIT)
          throw new WireError('HPE_INVALID_CHUNK_SIZE', 'a chunk line runs past 4 KiB');
        continue;
      }
      const line = lineOf(mode.line, 'HPE_INVALID_CHUNK_SIZE');
      mode.line = '';
      if (mode.state === 'data-end') {
        if (line !== '') throw new WireError('HPE_STRICT', 'a chunk is longer than its size says');
        mode.state = 'size';
      } else if (mode.state === 'size') {
        const size = CHUNK_SIZE.exec(line);
        if (!size?.[1]) throw new WireError('HPE_INVALID_CHUNK_SIZE', `invalid chunk size line "${line}"`);
        mode.left = Number.parseInt(size[1], 16);
        mode.state = mode.left === 0 ? 'trailer' : 'data';
      } else if (line === '') this.complete = true;
      else if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/.test(line))
        throw new WireError('HPE_INVALID_HEADER_TOKEN', `invalid trailer line "${line}"`);
    }
  }
}

/** A line read up to its LF, without its CRLF; a bare LF or a CR inside is a fault. */
function lineOf(text: string, code: string): string {
  if (!text.endsWith('\r\n') || text.indexOf('\r') !== text.length - 2)
    throw new WireError(code, 'a line does not end in CRLF');
  return text.slice(0, -2);
}

function parseHead(text: string): { status: number; headers: WireHeaders } {
  const lines = text.split('\r\n');
  const statusLine = lines[0] ?? '';
  const status = STATUS_LINE.exec(statusLine);
  if (!status?.[1]) {
    bareLineEnd(statusLine);
    const fault = statusLine.startsWith('HTTP/') ? 'HPE_INVALID_STATUS' : 'HPE_INVALID_CONSTANT';
    throw new WireError(fault, `not an HTTP/1.x status line: "${statusLine.slice(0, 80)}"`);
  }
  const code = Number(status[1]);
  if (code < 100) throw new WireError('HPE_INVALID_STATUS', `invalid status code ${status[1]}`);
  const headers: WireHeaders = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    // One match checks the name (a token right before the colon: no space there, no obsolete
    // folding), checks the value's characters, and trims the value's surrounding whitespace.
    const field = FIELD_LINE.exec(line);
    if (!field?.[1]) {
      bareLineEnd(line);
      throw new WireError('HPE_INVALID_HEADER_TOKEN', `invalid header line "${line.slice(0, 80)}"`);
    }
    addHeader(headers, field[1].toLowerCase(), field[2] ?? '');
  }
  return { status: code, headers };
}

/** Lines end in CRLF; a CR or LF alone is how response splitting starts (RFC 9112 §2.2). */
function bareLineEnd(line: string): void {
  if (line.includes('\r') || line.includes('\n'))
    throw new WireError('HPE_CR_EXPECTED', 'a line of the head ends in a bare CR or LF');
}

function addHeader(headers: WireHeaders, name: string, value: string): void {
  const had = headers[name];
  if (name === 'set-cookie') {
    if (Array.isArray(had)) had.push(value);
    else headers[name] = [value];
    return;
  }
  if (had === undefined) {
    if (name === 'content-length' && !/^\d+$/.test(value))
      throw new WireError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length "${value}"`);
    headers[name] = value;
    return;
  }
  if (name === 'content-length')
    throw new WireError('HPE_UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length');
  if (SINGLE.has(name)) return;
  headers[name] = `${String(had)}${name === 'cookie' ? '; ' : ', '}${value}`;
}

/** How the body is delimited (RFC 9112 §6.3). */
function bodyMode(status: number, headers: WireHeaders, noBody: boolean): BodyMode {
  if (noBody || status < 200 || status === 204 || status === 304) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    if (cl !== undefined)
      throw new WireError(
        'HPE_INVALID_TRANSFER_ENCODING',
        "Transfer-Encoding can't be present with Content-Length",
      );
    const codings = String(te).toLowerCase().split(',');
    // Chunked last: chunked framing; any other final coding: the body runs to the close.
    return codings[codings.length - 1]?.trim() === 'chunked'
      ? { kind: 'chunked', state: 'size', left: 0, line: '' }
      : { kind: 'close' };
  }
  if (cl !== undefined) {
    const left = Number(cl);
    if (!Number.isSafeInteger(left))
      throw new WireError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length "${String(cl)}"`);
    return { kind: 'length', left };
  }
  return { kind: 'close' };
}
