/**
 * The Node built-ins the agent uses, loaded the CommonJS way and only when first needed. An
 * `import` of a built-in builds a module namespace from every export, which runs the built-in's
 * lazy getters: on Node 24 `import http from 'node:http'` loads undici, TLS, HTTP/2 and assert
 * with it (223 internal modules loaded, against 151 for `require('node:http')`), and
 * `import … from 'node:fs'` or `'node:util'` some 30 more (process.moduleLoadList). Every round-1
 * attempt waits for an agent to start, 60 at once on two cores in scripts/bench-run.ts, so that
 * is time the run pays; and a session whose batches only dial HTTP and TCP never needs `http`
 * (the echo server and the API probe do), `dgram`, the resolver or `fs/promises`.
 */
import type Dgram from 'node:dgram';
import type DnsPromises from 'node:dns/promises';
import type Fs from 'node:fs';
import type FsPromises from 'node:fs/promises';
import type Http from 'node:http';
import type Https from 'node:https';
import { createRequire } from 'node:module';
import type Net from 'node:net';
import type Stream from 'node:stream';
import type Util from 'node:util';

const require = createRequire(import.meta.url);

/** Loads on the first call, then returns what it loaded. */
function once<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}

export const http = once(() => require('node:http') as typeof Http);
export const https = once(() => require('node:https') as typeof Https);
export const net = once(() => require('node:net') as typeof Net);
export const dgram = once(() => require('node:dgram') as typeof Dgram);
export const dns = once(() => require('node:dns/promises') as typeof DnsPromises);
export const fsPromises = once(() => require('node:fs/promises') as typeof FsPromises);
export const fs = once(() => require('node:fs') as typeof Fs);
export const util = once(() => require('node:util') as typeof Util);
export const stream = once(() => require('node:stream') as typeof Stream);
