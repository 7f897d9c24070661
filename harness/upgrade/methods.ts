/**
 * How the control plane moves to the new Istio: `in-place` (istioctl upgrade of the one
 * control plane) or `revision` (a canary istiod beside the old one). Its own module so the CLI
 * can offer the choice without loading the upgrade machinery.
 */
export const UPGRADE_METHODS = ['in-place', 'revision'] as const;
export type UpgradeMethod = (typeof UPGRADE_METHODS)[number];
