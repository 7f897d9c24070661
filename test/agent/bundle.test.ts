/** The agent bundle the pods run: one file, Node built-ins only. */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';

import { COMPILE_HINT } from '../../harness/agent/bundle.js';
import { agentBundle } from './support/agent-process.js';

describe('agent bundle', function () {
  it('imports nothing but Node built-ins, so it runs on a stock Node image', async function () {
    this.timeout(20_000);
    const text = await readFile(await agentBundle(), 'utf8');
    const specifiers = [
      ...text.matchAll(
        /(?:\bfrom\s*|\bimport\s*\(\s*|\b(?:require\d*|getBuiltinModule)\s*\(\s*)["']([^"']+)["']/g,
      ),
    ].map((m) => m[1] ?? '');
    expect(specifiers).not.to.be.empty;
    // The built-ins loaded on first use (harness/agent/builtins.ts) are named too.
    expect(specifiers).to.include.members(['node:http', 'node:net', 'node:dns/promises']);
    for (const specifier of specifiers) {
      expect(specifier, specifier).to.match(/^node:/);
      expect(builtinModules, specifier).to.include(specifier.slice('node:'.length));
    }
  });

  it("opens with V8's compile hint, at the top of the file where V8 looks for it", async function () {
    this.timeout(20_000);
    const text = await readFile(await agentBundle(), 'utf8');
    expect(text.split('\n', 1)[0]).to.equal(COMPILE_HINT);
  });
});
