/**
 * The network layer as Calico's dataplane evaluates it (tigera docs, "Tier"): for each direction
 * of each endpoint, tiers in order; in a tier, the policies that select the endpoint in order;
 * in a policy, its rules in order, the first Allow/Deny/Pass deciding (Log goes on). A tier in
 * which some policy applied but nothing decided ends with its default action (Deny unless the
 * Tier says Pass); Pass goes to the next tier; when no tier decides, the namespace profile
 * allows. Kubernetes NetworkPolicies sit in the default tier at order 1000, which reproduces
 * their own semantics (isolation by selection, union of allow rules) and their interplay with
 * Calico policies.
 */
import type { Cluster, Endpoint } from './cluster.js';
import { MAYBE, NO, YES, type Tri } from './types.js';

export type Direction = 'Ingress' | 'Egress';
export type RuleAction = 'Allow' | 'Deny' | 'Pass' | 'Log';
export type Protocol = 'TCP' | 'UDP';

/** Matches the server side of a connection: its port number and protocol (names resolve on it). */
export type PortTest = (server: Endpoint, port: number, protocol: Protocol) => Tri;

export interface CompiledRule {
  readonly action: RuleAction;
  /** `egress rule 2`, for reasons. */
  readonly label: string;
  /** Per endpoint: does the endpoint the policy is on match this rule's side for it. Undefined: any. */
  readonly local: Uint8Array | undefined;
  /** Per endpoint: does the other side match. Undefined: any, including outside the cluster. */
  readonly peer: Uint8Array | undefined;
  readonly protocol: ((p: Protocol) => Tri) | undefined;
  readonly serverPort: PortTest | undefined;
  /** The client's (ephemeral) port against source ports: YES when unconstrained. */
  readonly clientPort: Tri;
  /** Something in the rule the model does not evaluate: the rule may or may not match. */
  readonly problem?: string;
}

export interface CompiledPolicy {
  /** `tenant-acme/default-deny-all`, or `tenant-isolation.acme` for a global policy. */
  readonly title: string;
  /** '' for Kubernetes NetworkPolicy, else `GlobalNetworkPolicy ` / `Calico NetworkPolicy `. */
  readonly kindPrefix: string;
  readonly where: string;
  readonly tier: string;
  readonly order: number;
  readonly sortName: string;
  /** Per endpoint: does the policy select it. */
  readonly selects: Uint8Array;
  readonly types: { readonly Ingress: boolean; readonly Egress: boolean };
  readonly rules: { readonly Ingress: readonly CompiledRule[]; readonly Egress: readonly CompiledRule[] };
  /** The policy as a whole is not understood (or rejected): its effect is unknown where it applies. */
  readonly problem?: string;
}

export interface CompiledTier {
  readonly name: string;
  readonly order: number;
  readonly defaultAction: 'Deny' | 'Pass';
  readonly where: string;
}

export interface NetworkVerdict {
  /** YES allowed, NO dropped, MAYBE unknown. */
  readonly verdict: Tri;
  readonly reasons: readonly string[];
}

interface TierPlan {
  readonly tier: CompiledTier;
  readonly policies: readonly CompiledPolicy[];
  /** `a (Egress), b (Egress)`: the policies of this tier that apply, for end-of-tier reasons. */
  readonly titles: string;
}

export function policyLabel(p: CompiledPolicy, direction: Direction): string {
  return `${p.kindPrefix}${p.title} (${direction})${p.where ? ` [${p.where}]` : ''}`;
}

/** Tiers sort by order (none = last), then name; policies likewise (Calico's policy sorter). */
function byOrder(a: { order: number; name: string }, b: { order: number; name: string }): number {
  return a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

const MAX_BRANCHES = 64;

export class NetworkLayer {
  private readonly plans: { readonly Ingress: TierPlan[][]; readonly Egress: TierPlan[][] };
  private readonly cluster: Cluster;
  readonly policies: readonly CompiledPolicy[];

  constructor(
    cluster: Cluster,
    policies: readonly CompiledPolicy[],
    tiers: ReadonlyMap<string, CompiledTier>,
  ) {
    this.cluster = cluster;
    this.policies = policies;
    const sortedTiers = [...tiers.values()].sort((a, b) =>
      byOrder({ order: a.order, name: a.name }, { order: b.order, name: b.name }),
    );
    const sortedPolicies = [...policies].sort((a, b) =>
      byOrder({ order: a.order, name: a.sortName }, { order: b.order, name: b.sortName }),
    );
    const plansFor = (direction: Direction): TierPlan[][] =>
      cluster.endpoints.map((e) => {
        const plan: TierPlan[] = [];
        for (const tier of sortedTiers) {
          const applying = sortedPolicies.filter(
            (p) => p.tier === tier.name && p.types[direction] && p.selects[e.index] !== NO,
          );
          if (applying.length > 0) {
            plan.push({
              tier,
              policies: applying,
              titles: applying.map((p) => policyLabel(p, direction)).join(', '),
            });
          }
        }
        return plan;
      });
    this.plans = { Ingress: plansFor('Ingress'), Egress: plansFor('Egress') };
  }

  /**
   * The verdict of one direction: `local` is the endpoint whose policy is evaluated (the client
   * for Egress, the server for Ingress), `peer` the other side.
   */
  evaluate(
    direction: Direction,
    local: Endpoint,
    peer: Endpoint,
    server: Endpoint,
    port: number,
    protocol: Protocol,
  ): NetworkVerdict {
    const plan = (direction === 'Ingress' ? this.plans.Ingress : this.plans.Egress)[local.index] ?? [];
    const walk = new Walk(plan, direction, local, peer, server, port, protocol);
    if (plan.length === 0) {
      return {
        verdict: YES,
        reasons: [`no network policy selects ${local.key} for ${direction}: allowed ${walk.what()}`],
      };
    }
    return walk.from(0, 0, false);
  }

  get endpointCount(): number {
    return this.cluster.endpoints.length;
  }
}

/**
 * One evaluation of one direction: the tier walk with its position, branching in two wherever a
 * rule or a selection may or may not match (both branches agreeing gives a definite verdict).
 * A class rather than closures: this runs twice per attempt.
 */
class Walk {
  private branches = 0;
  private readonly plan: readonly TierPlan[];
  private readonly direction: Direction;
  private readonly local: Endpoint;
  private readonly peer: Endpoint;
  private readonly server: Endpoint;
  private readonly port: number;
  private readonly protocol: Protocol;

  constructor(
    plan: readonly TierPlan[],
    direction: Direction,
    local: Endpoint,
    peer: Endpoint,
    server: Endpoint,
    port: number,
    protocol: Protocol,
  ) {
    this.plan = plan;
    this.direction = direction;
    this.local = local;
    this.peer = peer;
    this.server = server;
    this.port = port;
    this.protocol = protocol;
  }

  what(): string {
    return `${this.direction === 'Egress' ? 'to' : 'from'} ${this.peer.key} on ${this.port}/${this.protocol}`;
  }

  private unknown(why: string): NetworkVerdict {
    return { verdict: MAYBE, reasons: [why] };
  }

  private merge(a: NetworkVerdict, b: NetworkVerdict, why: string): NetworkVerdict {
    return a.verdict === b.verdict && a.verdict !== MAYBE
      ? { verdict: a.verdict, reasons: [...a.reasons, ...b.reasons.filter((r) => !a.reasons.includes(r))] }
      : this.unknown(why);
  }

  private match(rule: CompiledRule): Tri {
    if (rule.problem !== undefined) return MAYBE;
    let m: Tri = YES;
    if (rule.local) {
      const v = rule.local[this.local.index] as Tri;
      if (v === NO) return NO;
      if (v === MAYBE) m = MAYBE;
    }
    if (rule.peer) {
      const v = rule.peer[this.peer.index] as Tri;
      if (v === NO) return NO;
      if (v === MAYBE) m = MAYBE;
    }
    if (rule.protocol) {
      const v = rule.protocol(this.protocol);
      if (v === NO) return NO;
      if (v === MAYBE) m = MAYBE;
    }
    if (rule.serverPort) {
      const v = rule.serverPort(this.server, this.port, this.protocol);
      if (v === NO) return NO;
      if (v === MAYBE) m = MAYBE;
    }
    if (rule.clientPort === NO) return NO;
    if (rule.clientPort === MAYBE) m = MAYBE;
    return m;
  }

  /** From policy `pi` of tier `ti` on; `applied`: some policy of this tier applied already. */
  from(ti: number, pi: number, applied: boolean): NetworkVerdict {
    for (; ti < this.plan.length; ti++, pi = 0, applied = false) {
      const { tier, policies, titles } = this.plan[ti] as TierPlan;
      for (; pi < policies.length; pi++) {
        const policy = policies[pi] as CompiledPolicy;
        if (policy.problem !== undefined) {
          return this.unknown(
            `${policyLabel(policy, this.direction)} applies to ${this.local.key} but is not understood: ${policy.problem}`,
          );
        }
        if (policy.selects[this.local.index] === MAYBE) {
          if (++this.branches > MAX_BRANCHES)
            return this.unknown(`too many uncertain selections for ${this.local.key}`);
          const why = `whether ${policyLabel(policy, this.direction)} selects ${this.local.key} is unknown`;
          return this.merge(this.from(ti, pi + 1, applied), this.rulesThenOn(ti, pi, 0), why);
        }
        const result = this.rules(ti, pi, 0);
        if (result) return result;
        applied = true;
      }
      if (applied && tier.defaultAction === 'Deny') {
        return {
          verdict: NO,
          reasons: [
            `${this.local.key} is selected by ${titles}${tier.name === 'default' ? '' : ` in tier ${tier.name}`} and no rule allows traffic ${this.what()}`,
          ],
        };
      }
    }
    return {
      verdict: YES,
      reasons: [`no tier decided ${this.direction} for ${this.local.key}: the namespace profile allows`],
    };
  }

  private rulesThenOn(ti: number, pi: number, ri: number): NetworkVerdict {
    return this.rules(ti, pi, ri) ?? this.from(ti, pi + 1, true);
  }

  /** The rules of policy (ti, pi) from rule ri; undefined when none decides. */
  private rules(ti: number, pi: number, ri: number): NetworkVerdict | undefined {
    const policy = (this.plan[ti] as TierPlan).policies[pi] as CompiledPolicy;
    const list = policy.rules[this.direction];
    for (; ri < list.length; ri++) {
      const rule = list[ri] as CompiledRule;
      const m = this.match(rule);
      // Log records the packet and goes on: it never decides.
      if (m === NO || rule.action === 'Log') continue;
      const acted = this.act(ti, rule, policy);
      if (m === YES) return acted;
      if (++this.branches > MAX_BRANCHES)
        return this.unknown(`too many uncertain rules for ${this.local.key}`);
      const why =
        `${policyLabel(policy, this.direction)} ${rule.label} may or may not match traffic ${this.what()}: ` +
        (rule.problem ?? 'an address or port the model cannot place');
      return this.merge(acted, this.rulesThenOn(ti, pi, ri + 1), why);
    }
    return undefined;
  }

  private act(ti: number, rule: CompiledRule, policy: CompiledPolicy): NetworkVerdict {
    const label = `${policyLabel(policy, this.direction)} ${rule.label}`;
    switch (rule.action) {
      case 'Allow':
        return { verdict: YES, reasons: [`${label} allows traffic ${this.what()}`] };
      case 'Deny':
        return { verdict: NO, reasons: [`${label} denies traffic ${this.what()}`] };
      case 'Pass': {
        const next = this.from(ti + 1, 0, false);
        return { verdict: next.verdict, reasons: [`${label} passes to the next tier`, ...next.reasons] };
      }
      case 'Log':
      default:
        return this.unknown(`${label}: action ${rule.action} does not decide`);
    }
  }
}
