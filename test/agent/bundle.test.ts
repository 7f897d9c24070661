/** The agent bundle the pods run: one file, Node built-ins only. */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';

import { agentBundle } from './support/agent-process.js';

describe('agent bundle', function () {
  it('imports nothing but Node built-ins, so it runs on a stock Node image', async function () {
    this.timeout(20_000);
    const text = await readFile(await agentBundle(), 'utf8');
    const specifiers = [
      ...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([^"']+)["']/g),
    ].map((m) => m[1] ?? '');
    expect(specifiers).not.to.be.empty;
    for (const specifier of specifiers) {
      expect(specifier, specifier).to.match(/^node:/);
      expect(builtinModules, specifier).to.include(specifier.slice('node:'.length));
    }
  });
});
