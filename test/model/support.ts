import { HEAD, load } from '../support/scenarios.js';
import { PolicyModel } from '../../harness/model/evaluate.js';
import type { Prediction } from '../../harness/model/types.js';
import type { Scenario } from '../../harness/scenario/types.js';

/**
 * Two tenants (a, b) with one meshed server `web` (port 8080 named http), a meshed probe and
 * a sidecar-free probe each, unless the test gives its own topology. Policies are inline YAML.
 */
export const TOPOLOGY = `  tenants:
    - name: a
      workloads:
        - { name: web, serviceAccount: web, ports: [{ port: 8080, name: http }, { port: 9000, name: tcp-raw }, { port: 5353, protocol: UDP, name: udp }] }
    - name: b
      workloads:
        - { name: web, serviceAccount: web, ports: [{ port: 8080, name: http }, { port: 9000, name: tcp-raw }, { port: 5353, protocol: UDP, name: udp }] }
`;

export function indent(text: string, by: number): string {
  const pad = ' '.repeat(by);
  return text
    .split('\n')
    .map((l) => (l.trim() ? pad + l : l))
    .join('\n');
}

export interface Planned {
  readonly scenario: Scenario;
  readonly model: PolicyModel;
  /** Predicts the attempt with this id. */
  readonly p: (id: string) => Prediction;
}

/** Loads a scenario with `policies` (multi-document YAML) and `attempts` (YAML list) and predicts. */
export async function plan(
  policies: string,
  attempts: string,
  options: { topology?: string; extraSpec?: string } = {},
): Promise<Planned> {
  const text =
    HEAD +
    (options.extraSpec ?? '') +
    (options.topology ?? TOPOLOGY) +
    (policies.trim() ? `  policies:\n    - inline: |\n${indent(policies, 8)}\n` : '') +
    `  attempts:\n${indent(attempts, 4)}\n`;
  const scenario = await load(text);
  const manifests = scenario.policies.flatMap((s) => (s.kind === 'builtin' ? [] : s.manifests));
  const model = new PolicyModel({ ...scenario, manifests });
  const byId = new Map(scenario.attempts.map((a) => [a.id, a]));
  return {
    scenario,
    model,
    p: (id) => {
      const attempt = byId.get(id);
      if (!attempt) throw new Error(`no attempt ${id}`);
      return model.predict(attempt);
    },
  };
}

/** `id: from -> to[:port] kind` shorthand for attempts. */
export function http(id: string, from: string, to: string, extra = ''): string {
  return `- { id: ${id}, kind: http, from: ${from}, to: ${to}, port: 8080${extra ? `, ${extra}` : ''} }\n`;
}

export function tcp(id: string, from: string, to: string, port = 9000): string {
  return `- { id: ${id}, kind: tcp, from: ${from}, to: ${to}, port: ${port} }\n`;
}
