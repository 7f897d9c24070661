/**
 * What the echo server answers: the request exactly as it arrived, and who answered. A probe
 * that gets this body back knows the request reached the app, and sees the headers the app
 * received (`x-forwarded-client-cert` shows the caller's mTLS identity, a forged header shows
 * whether the mesh stripped it).
 */

/** Marks an echo body, so a probe can tell our app's answer from anything else's. */
export const ECHO_MARK = 'bulkhead-echo';

export interface EchoView {
  readonly agent: typeof ECHO_MARK;
  /** From the Downward API (`POD_NAME`, `POD_NAMESPACE`); empty when not set. */
  readonly pod: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The port the request arrived on. */
  readonly port: number;
  readonly method: string;
  readonly path: string;
  /** Every header received, names lower-cased; repeated headers keep every value. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** Where the connection came from as the app sees it (the sidecar when there is one). */
  readonly remoteAddress: string;
  readonly bodyBytes: number;
}

/** The echo view inside a response body, or undefined when the body is not an echo. */
export function readEcho(body: string): EchoView | undefined {
  if (!body.includes(ECHO_MARK)) return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null && (parsed as { agent?: unknown }).agent === ECHO_MARK)
      return parsed as EchoView;
  } catch {
    // A body cut at the evidence limit, or a body that merely mentions the mark: not an echo.
  }
  return undefined;
}
