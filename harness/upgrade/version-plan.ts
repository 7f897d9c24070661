/**
 * The version plans of upgrade-check, refused before anything runs: pure checks over the version
 * tables (harness/cluster/versions.ts), apart from the upgrade machinery so that printing a CI
 * matrix (`upgrade-check --matrix … --matrix-format`) loads no Kubernetes client.
 */
import { checkVersionPlan, compareVersions, minorOf, type VersionPlan } from '../cluster/versions.js';
import { UserError } from '../errors.js';

/** Refuses a plan before anything runs: a downgrade, or a version any phase cannot run with. */
export function checkUpgradePlan(plan: Omit<VersionPlan, 'istio'> & { from: string; to: string }): void {
  checkVersionPlan({ ...plan, istio: plan.from });
  checkVersionPlan({ ...plan, istio: plan.to });
  if (compareVersions(plan.to, plan.from) <= 0) {
    throw new UserError(
      `--to ${plan.to} is not newer than --from ${plan.from}; an upgrade check goes from the running version to a newer one`,
    );
  }
  const [fm = 0, fn = 0] = minorOf(plan.from).split('.').map(Number);
  const [tm = 0, tn = 0] = minorOf(plan.to).split('.').map(Number);
  if (tm !== fm || tn - fn > 2) {
    throw new UserError(
      `Istio tests upgrades across at most two minor versions; ${plan.from} → ${plan.to} is not one (upgrade through an intermediate release)`,
    );
  }
}

/** Refuses a matrix before anything runs: every version must run on the chosen Kubernetes. */
export function checkMatrixPlan(plan: Omit<VersionPlan, 'istio'> & { versions: readonly string[] }): void {
  if (plan.versions.length < 2)
    throw new UserError(
      '--matrix needs at least two Istio versions, separated by commas (e.g. 1.29.3,1.30.4)',
    );
  const seen = new Set<string>();
  for (const v of plan.versions) {
    if (seen.has(v)) throw new UserError(`--matrix lists ${v} twice`);
    seen.add(v);
    checkVersionPlan({ ...plan, istio: v });
  }
}
