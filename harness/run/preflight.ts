/**
 * Before anything is created on a cluster bulkhead does not own: every scenario namespace must
 * be absent or already bulkhead's for this run. Anything else is refused, with nothing changed.
 */
import type { KubeClient } from '../kube/client.js';
import { UserError } from '../errors.js';
import type { Scenario } from '../scenario/types.js';
import { isManaged, MANAGED_BY_LABEL, RUN_LABEL } from './identity.js';

export class ClusterRefusal extends UserError {
  override readonly name = 'ClusterRefusal';
}

export async function checkNamespacesFree(
  client: KubeClient,
  scenario: Scenario,
  runId: string,
): Promise<void> {
  const refusals: string[] = [];
  for (const ns of scenario.namespaces) {
    const existing = await client.read({ apiVersion: 'v1', kind: 'Namespace', name: ns.name });
    if (!existing) continue;
    const labels = existing.metadata?.labels;
    if (!isManaged(labels)) {
      refusals.push(
        `namespace ${ns.name} already exists and is not bulkhead's (no ${MANAGED_BY_LABEL}=bulkhead label); ` +
          'bulkhead will not touch it: pick other names in the scenario or delete the namespace yourself',
      );
    } else if (labels?.[RUN_LABEL] !== runId) {
      refusals.push(
        `namespace ${ns.name} belongs to bulkhead run ${labels?.[RUN_LABEL] ?? '(unknown)'}; ` +
          `wait for that run to end, or delete what it left: kubectl delete ns -l ${RUN_LABEL}=${labels?.[RUN_LABEL] ?? ''}`,
      );
    }
  }
  if (refusals.length > 0) throw new ClusterRefusal(refusals.join('\n'));
}
