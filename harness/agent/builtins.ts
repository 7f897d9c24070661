/**
 * The Node built-ins the agent uses, loaded the CommonJS way and only when first needed. An
 * `import` of a built-in builds a module namespace from every export, which runs the built-in's
 * lazy getters: on Node 24 `import http from 'node:http'` loads undici, TLS, HTTP/2 and assert
 * with it (223 internal modules loaded, against 151 for `require('node:http')`), and
 * `import … from 'node:fs'` or `'node:util'` some 30 more (process.moduleLoadList). Every round-1
 * attempt waits for an agent to start, 60 at once on two cores in scripts/bench-run.ts, so that
 * is time the run pays; and a session whose batches only dial HTTP and TCP never needs `http`
 * (the echo server and the API probe do), `dgram`, the resolver or `fs/promises`. Through
 * `process.getBuiltinModule` (Node 22.3 and later), which needs no `node:module` import either.
 */

/** Loads on the first call, then returns what it loaded. */
function once<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}

export const http = once(() => process.getBuiltinModule('node:http'));
export const https = once(() => process.getBuiltinModule('node:https'));
export const net = once(() => process.getBuiltinModule('node:net'));
export const dgram = once(() => process.getBuiltinModule('node:dgram'));
export const dns = once(() => process.getBuiltinModule('node:dns/promises'));
export const fsPromises = once(() => process.getBuiltinModule('node:fs/promises'));
export const fs = once(() => process.getBuiltinModule('node:fs'));
export const util = once(() => process.getBuiltinModule('node:util'));
export const v8 = once(() => process.getBuiltinModule('node:v8'));
export const stream = once(() => process.getBuiltinModule('node:stream'));
export const stringDecoder = once(() => process.getBuiltinModule('node:string_decoder'));
