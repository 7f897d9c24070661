/**
 * What an attempt dials or asks, as the one text every table and report shows:
 * `tenant-acme/api:8080`, `node:10250`, `169.254.169.254:80`, `A api.tenant-acme.svc.cluster.local`,
 * `get apps/deployments -n tenant-acme`.
 */
import { addressTargetText } from './address-target.js';
import { refText, type Attempt } from './types.js';

export function attemptTarget(a: Attempt): string {
  switch (a.kind) {
    case 'dns':
      return `${a.query.type} ${a.query.name}`;
    case 'api': {
      const r = a.request;
      return `${r.verb} ${r.group ? `${r.group}/` : ''}${r.resource}${r.namespace ? ` -n ${r.namespace}` : ''}`;
    }
    case 'http':
    case 'tcp':
    case 'udp':
      return `${'target' in a ? addressTargetText(a.target) : refText(a.to)}:${a.port.port}`;
  }
}
