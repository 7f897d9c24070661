/**
 * The Node built-ins whose ES-module import costs the agent's start: they are loaded the CommonJS
 * way instead. An `import` of a built-in builds a module namespace from every export, which runs
 * the built-in's lazy getters: on Node 24 `import http from 'node:http'` loads undici, TLS, HTTP/2
 * and assert with it (223 internal modules loaded, against 151 for `require('node:http')`), and
 * `import … from 'node:fs'` or `'node:util'` some 30 more (process.moduleLoadList). Every round-1
 * attempt waits for an agent to start, 60 at once on two cores in scripts/bench-run.ts, so that is
 * time the run pays. node:https is loaded at the first TLS attempt: most batches dial plain HTTP.
 */
import type Fs from 'node:fs';
import type Http from 'node:http';
import type Https from 'node:https';
import { createRequire } from 'node:module';
import type Util from 'node:util';

const require = createRequire(import.meta.url);

export const http = require('node:http') as typeof Http;
export const fs = require('node:fs') as typeof Fs;
export const util = require('node:util') as typeof Util;

let httpsModule: typeof Https | undefined;
export function https(): typeof Https {
  httpsModule ??= require('node:https') as typeof Https;
  return httpsModule;
}
