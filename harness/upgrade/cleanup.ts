/**
 * Removing what the phases kept, once the last phase is over (the phases keep their fixtures so
 * the next one measures the same pods). Only objects carrying the run's label are deleted: the
 * policies placed outside the scenario's namespaces one by one, then the namespaces, which take
 * everything inside with them.
 */
import type { KubeClient } from '../kube/client.js';
import { refOf } from '../kube/objects.js';
import { renderPolicySources } from '../policies/render.js';
import { RUN_LABEL, runSelector } from '../run/identity.js';
import type { Scenario } from '../scenario/types.js';

/** Returns what could not be deleted, one line each (empty when everything went). */
export async function removeRunObjects(
  client: KubeClient,
  scenario: Scenario,
  runId: string,
): Promise<string[]> {
  const inside = new Set(scenario.namespaces.map((n) => n.name));
  const failures: string[] = [];
  const outside = renderPolicySources(scenario)
    .map((m) => refOf(m.object as never))
    .filter((ref) => !(ref.namespace && inside.has(ref.namespace)));
  for (const ref of outside.reverse()) {
    try {
      const current = await client.read(ref);
      if (current?.metadata?.labels?.[RUN_LABEL] === runId) await client.delete(ref);
    } catch (error) {
      failures.push(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
    }
  }
  try {
    await client.deleteByLabel([{ apiVersion: 'v1', kind: 'Namespace' }], runSelector(runId));
  } catch (error) {
    failures.push(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
  }
  return failures;
}
