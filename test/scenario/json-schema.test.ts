import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'chai';
import { parse } from 'yaml';

import { scenarioJsonSchema } from '../../harness/scenario/json-schema.js';
import { repoRoot } from '../support/scenarios.js';

const committedPath = path.join(repoRoot, 'scenarios', 'scenario.schema.json');

describe('scenario JSON Schema', () => {
  it('is committed exactly as `bulkhead schema` generates it (run `npm run schema` after changing schema.ts)', async () => {
    const committed: unknown = JSON.parse(await readFile(committedPath, 'utf8'));
    expect(committed).to.deep.equal(scenarioJsonSchema());
  });

  it('accepts every shipped scenario, which each point editors at it on their first line', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(scenarioJsonSchema());
    const dir = path.join(repoRoot, 'scenarios');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
    expect(files).to.include('hard-isolation.yaml');
    for (const file of files) {
      const text = await readFile(path.join(dir, file), 'utf8');
      expect(text.split('\n')[0], file).to.equal('# yaml-language-server: $schema=./scenario.schema.json');
      expect(validate(parse(text)), `${file}: ${ajv.errorsText(validate.errors)}`).to.equal(true);
    }
  });

  it('rejects what the loader rejects: unknown fields, bad enums, missing required fields', () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    const validate = ajv.compile(scenarioJsonSchema());
    const base = { apiVersion: 'bulkhead.dev/v1alpha1', kind: 'Scenario', metadata: { name: 'x' } };
    expect(validate({ ...base, spec: {} })).to.equal(true);
    expect(validate({ ...base, spec: { bogus: 1 } })).to.equal(false);
    expect(validate({ ...base, spec: { attempts: [{ id: 'a', kind: 'htp', from: 'a/b' }] } })).to.equal(
      false,
    );
    expect(validate({ ...base, spec: { workloads: [{ name: 'w' }] } })).to.equal(false);
  });

  it('documents fields for editors', () => {
    const text = JSON.stringify(scenarioJsonSchema());
    expect(text).to.contain(
      "Whether the pod gets an Istio sidecar: true is dataplane: sidecar, false is dataplane: none. Default: the namespace's data plane.",
    );
    expect(text).to.contain(
      'How the pod joins the mesh: sidecar (injected Envoy), ambient (captured by ztunnel)',
    );
    expect(text).to.contain('Unique and stable across runs');
  });
});
