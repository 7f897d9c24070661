/**
 * Reads an HTTP/1 response out of raw bytes. A tcp attempt to a port the mesh treats as HTTP
 * gets Envoy's replies as bytes on the stream; parsing them lets the same rules apply.
 */
export interface RawHttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export function parseHttpResponse(bytes: Buffer): RawHttpResponse | undefined {
  const text = bytes.toString('latin1');
  const statusLine = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text);
  if (!statusLine?.[1]) return undefined;
  const end = text.indexOf('\r\n\r\n');
  const headerBlock = end < 0 ? text.slice(statusLine[0].length) : text.slice(statusLine[0].length, end);
  const headers: Record<string, string> = {};
  for (const line of headerBlock.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name] ?? ''}, ${value}` : value;
  }
  const body = end < 0 ? Buffer.alloc(0) : bytes.subarray(end + 4);
  const chunked = headers['transfer-encoding']?.toLowerCase().includes('chunked') ?? false;
  return { status: Number(statusLine[1]), headers, body: (chunked ? dechunk(body) : body).toString('utf8') };
}

/** Undoes chunked transfer encoding as far as the bytes go; Envoy's local replies may use it. */
function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) break;
    const size = Number.parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
    rest = rest.subarray(lineEnd + 2 + size + 2);
  }
  return Buffer.concat(parts);
}
