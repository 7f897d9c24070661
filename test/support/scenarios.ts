import { fileURLToPath } from 'node:url';

import { expect } from 'chai';

import { InputError, type Problem } from '../../harness/errors.js';
import { loadScenario } from '../../harness/scenario/loader.js';
import type { Scenario } from '../../harness/scenario/types.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const fixture = (name: string) =>
  fileURLToPath(new URL(`../fixtures/scenarios/${name}`, import.meta.url));

/** A minimal valid scenario head; tests append their own spec body. */
export const HEAD = `apiVersion: bulkhead.dev/v1alpha1
kind: Scenario
metadata: { name: t }
spec:
`;

/** Loads scenario text that must fail, and returns its problems. */
export async function problemsOf(text: string, file = '/virtual/scenario.yaml'): Promise<readonly Problem[]> {
  try {
    await loadScenario(text, file);
  } catch (error) {
    if (error instanceof InputError) return error.problems;
    throw error;
  }
  expect.fail('the scenario loaded, but problems were expected');
}

export async function load(text: string, file = '/virtual/scenario.yaml'): Promise<Scenario> {
  return loadScenario(text, file);
}
