/**
 * A headless Chromium (Debian's `chromium`) driven over its DevTools protocol, for the HTML
 * report's tests: load a page from a file, size the window, switch to print media, measure with
 * a script, take a screenshot, print to PDF. The protocol's socket is on loopback; the page is a
 * local file that fetches nothing. When chromium is not installed, `withPage` says so instead of
 * running (the caller skips).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import type { PNG } from 'pngjs';

/** The printable width of an A4 landscape page with the report's 12 mm margins, in CSS pixels. */
export const A4_LANDSCAPE_CONTENT_WIDTH = Math.floor(((297 - 2 * 12) / 25.4) * 96);
export const A4_LANDSCAPE_CONTENT_HEIGHT = Math.floor(((210 - 2 * 12) / 25.4) * 96);

export interface Page {
  /** The value of a JavaScript expression in the page (awaited when it is a promise). */
  evaluate<T>(expression: string): Promise<T>;
  /** The window's CSS size (device scale 1). */
  setViewport(width: number, height: number): Promise<void>;
  /** Lay the page out as for `print` or for the `screen`. */
  emulateMedia(media: 'print' | 'screen'): Promise<void>;
  /** The whole page (not only the window) as a PNG. */
  screenshot(): Promise<Buffer>;
  /** The page printed as Chromium prints it (its own `@page` size and margins, backgrounds on). */
  pdf(): Promise<Buffer>;
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

class Cdp {
  #id = 0;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters: { method: string; resolve: () => void }[] = [];
  readonly socket: WebSocket;
  constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as {
        id?: number;
        method?: string;
        result?: Record<string, unknown>;
        error?: { message: string };
      };
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(message.error.message));
        else pending?.resolve(message.result ?? {});
        return;
      }
      for (const [i, w] of this.#waiters.entries())
        if (w.method === message.method) {
          this.#waiters.splice(i, 1);
          w.resolve();
          break;
        }
    });
  }
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string) {
    const id = ++this.#id;
    this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
  }
  once(method: string): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ method, resolve }));
  }
}

function devtoolsUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      reject(new Error(`chromium did not open its DevTools socket: ${seen.slice(-400)}`));
    }, 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(`chromium exited (${code}) before it opened its DevTools socket: ${seen.slice(-400)}`),
      );
    });
  });
}

/**
 * Opens `html` in a fresh headless Chromium and runs `use` on it; returns what `use` returns,
 * or a sentence saying why Chromium could not be used (not installed).
 */
export async function withPage<T>(html: string, use: (page: Page) => Promise<T>): Promise<T | string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-cdp-'));
  let child: ChildProcess | undefined;
  let socket: WebSocket | undefined;
  try {
    const file = path.join(dir, 'report.html');
    await writeFile(file, html);
    child = spawn(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--remote-debugging-address=127.0.0.1',
        '--remote-debugging-port=0',
        `--user-data-dir=${path.join(dir, 'profile')}`,
        '--hide-scrollbars',
        '--force-device-scale-factor=1',
        '--window-size=1400,1000',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let url: string;
    try {
      url = await devtoolsUrl(child);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return 'chromium is not installed (apt-get install chromium)';
      throw error;
    }
    const opened = new WebSocket(url);
    socket = opened;
    await new Promise<void>((resolve, reject) => {
      opened.addEventListener('open', () => {
        resolve();
      });
      opened.addEventListener('error', () => {
        reject(new Error(`could not connect to ${url}`));
      });
    });
    const cdp = new Cdp(opened);
    const { targetId } = (await cdp.send('Target.createTarget', { url: 'about:blank' })) as {
      targetId: string;
    };
    const { sessionId } = (await cdp.send('Target.attachToTarget', { targetId, flatten: true })) as {
      sessionId: string;
    };
    const send = (method: string, params: Record<string, unknown> = {}) =>
      cdp.send(method, params, sessionId);
    await send('Page.enable');
    const setViewport = async (width: number, height: number) => {
      await send('Emulation.setDeviceMetricsOverride', {
        width,
        height,
        deviceScaleFactor: 1,
        mobile: false,
      });
    };
    await setViewport(1400, 1000);
    const loaded = cdp.once('Page.loadEventFired');
    await send('Page.navigate', { url: pathToFileURL(file).href });
    await loaded;
    const evaluate = async <V>(expression: string): Promise<V> => {
      const r = (await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
        result: { value: V };
        exceptionDetails?: { text: string; exception?: { description?: string } };
      };
      if (r.exceptionDetails)
        throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
      return r.result.value;
    };
    await evaluate('document.fonts.ready.then(() => true)');
    const page: Page = {
      evaluate,
      setViewport,
      async emulateMedia(media) {
        await send('Emulation.setEmulatedMedia', { media });
      },
      async screenshot() {
        const size = await evaluate<{ width: number; height: number }>(
          '({ width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight })',
        );
        const { data } = (await send('Page.captureScreenshot', {
          format: 'png',
          captureBeyondViewport: true,
          clip: { x: 0, y: 0, width: size.width, height: size.height, scale: 1 },
        })) as { data: string };
        return Buffer.from(data, 'base64');
      },
      async pdf() {
        const { data } = (await send('Page.printToPDF', {
          printBackground: true,
          preferCSSPageSize: true,
          displayHeaderFooter: false,
        })) as { data: string };
        return Buffer.from(data, 'base64');
      },
    };
    return await use(page);
  } finally {
    socket?.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    // Chromium's helper processes outlive the browser for a moment and may still write into the
    // profile: retry instead of failing the test on ENOTEMPTY.
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

/** What the layout tests measure: every table against its container, and any cell whose content overflows. */
export interface Layout {
  readonly viewport: number;
  readonly scrollWidth: number;
  readonly tables: readonly {
    readonly kind: string;
    readonly caption: string;
    readonly left: number;
    readonly right: number;
    readonly containerLeft: number;
    readonly containerRight: number;
  }[];
  /** Cells, headers, definitions and preformatted blocks whose content is wider than their box. */
  readonly overflowing: readonly { readonly tag: string; readonly text: string; readonly by: number }[];
}

/** Measures the page as laid out now (run in the page). */
export const MEASURE_LAYOUT = `(() => {
  const edges = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return { left: r.left + parseFloat(s.paddingLeft) + parseFloat(s.borderLeftWidth), right: r.right - parseFloat(s.paddingRight) - parseFloat(s.borderRightWidth) };
  };
  const tables = [...document.querySelectorAll('table')].map((t) => {
    const r = t.getBoundingClientRect();
    const c = edges(t.parentElement);
    return { kind: t.dataset.grid || t.className, caption: t.caption ? t.caption.textContent : '', left: r.left, right: r.right, containerLeft: c.left, containerRight: c.right };
  });
  const overflowing = [...document.querySelectorAll('td, th, dd, pre, caption, h1, h2, h3, p, .banner')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => ({ tag: el.tagName.toLowerCase(), text: el.textContent.slice(0, 80), by: el.scrollWidth - el.clientWidth }));
  return { viewport: document.documentElement.clientWidth, scrollWidth: document.documentElement.scrollWidth, tables, overflowing };
})()`;

export interface CellBox {
  readonly grid: string;
  readonly state: string;
  readonly text: string;
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** Every matrix cell as laid out (page coordinates), its state and the text it shows. */
export const CELL_BOXES = `[...document.querySelectorAll('table.matrix div.cell')].map((el) => {
  const r = el.getBoundingClientRect();
  return { grid: el.closest('table').dataset.grid, state: el.dataset.state, text: el.textContent, left: r.left + scrollX, top: r.top + scrollY, width: r.width, height: r.height };
})`;

export type Rgb = readonly [number, number, number];

export const hex = (colour: string): Rgb => [
  parseInt(colour.slice(1, 3), 16),
  parseInt(colour.slice(3, 5), 16),
  parseInt(colour.slice(5, 7), 16),
];
export const close = (a: Rgb, b: Rgb) => a.every((v, i) => Math.abs(v - (b[i] ?? 0)) <= 3);

export function pixel(png: PNG, x: number, y: number): Rgb {
  const i = (y * png.width + x) * 4;
  return [png.data[i] ?? 0, png.data[i + 1] ?? 0, png.data[i + 2] ?? 0];
}
