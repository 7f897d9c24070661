/**
 * Segments: the scenario's own statement of scope for a segmentation test (PCI DSS v4.0
 * requirement 11.4.5: "penetration testing is performed to verify segmentation controls ... ",
 * 11.4.6 the same every six months for service providers). A segment is a named group of the
 * scenario's namespaces (the cardholder data environment, corporate tenants, shared tooling);
 * `isolate` says, one direction per entry, which segments must not reach which; `outOfScope`
 * names the systems the test deliberately leaves out, so the report can say so instead of
 * "nothing declared". The fields' zod schemas are here (spread into spec by schema.ts) and so
 * is their resolution against the scenario's namespaces, with located problems.
 */
import { z } from 'zod';

import type { Problem } from '../errors.js';
import type { DocPath, YamlDocument } from '../yaml-source.js';
import type { Attempt, Namespace } from './types.js';

const segmentName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label: lower-case letters, digits and "-"');

export const SegmentSchema = z
  .strictObject({
    name: segmentName.meta({ description: 'The segment’s name, as `isolate` and the report use it: `cde`.' }),
    description: z
      .string()
      .optional()
      .meta({ description: 'What the segment is, for the auditor: "cardholder data environment".' }),
    namespaces: z.array(z.string().min(1)).min(1).meta({
      description: 'Namespaces of the scenario in this segment; a namespace is in one segment at most.',
    }),
  })
  .meta({ description: 'A named group of the scenario’s namespaces (a network segment).' });

export const IsolationSchema = z
  .strictObject({
    from: segmentName.meta({ description: 'The segment whose workloads must not reach the others.' }),
    to: z.array(segmentName).min(1).meta({
      description: 'The segments they must not reach. One direction: write the reverse as its own entry.',
    }),
  })
  .meta({
    description:
      'Segments that must be isolated, one direction per entry: `{from: corp, to: [cde]}` says corp must not reach cde, and nothing about cde reaching corp.',
  });

export const OutOfScopeSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .meta({ description: 'The system left out: "payments database (managed, outside the cluster)".' }),
    reason: z.string().optional().meta({ description: 'Why it is out of scope, for the auditor.' }),
  })
  .meta({ description: 'A system the test deliberately does not cover.' });

/** The fields schema.ts spreads into `spec`. */
export const segmentFields = {
  segments: z.array(SegmentSchema).default([]).meta({
    description: 'Named groups of namespaces, for the report’s segmentation table (PCI DSS 11.4.5).',
  }),
  isolate: z
    .array(IsolationSchema)
    .default([])
    .meta({ description: 'Which segments must not reach which, one direction per entry.' }),
  outOfScope: z
    .array(OutOfScopeSchema)
    .default([])
    .meta({ description: 'Systems the test deliberately leaves out, listed in the report’s scope.' }),
} as const;

type SegmentInput = z.output<typeof SegmentSchema>;
type IsolationInput = z.output<typeof IsolationSchema>;
type OutOfScopeInput = z.output<typeof OutOfScopeSchema>;

export interface Segment {
  readonly name: string;
  readonly description?: string;
  readonly namespaces: readonly string[];
}

/** One direction of isolation: no workload of `from` may reach one of `to`. */
export interface IsolationPair {
  readonly from: string;
  readonly to: string;
}

export interface OutOfScope {
  readonly name: string;
  readonly reason?: string;
}

export interface ScenarioSegments {
  readonly segments: readonly Segment[];
  readonly isolate: readonly IsolationPair[];
  readonly outOfScope: readonly OutOfScope[];
}

export interface ResolveSegmentsProps {
  readonly doc: YamlDocument;
  readonly segments: readonly SegmentInput[];
  readonly isolate: readonly IsolationInput[];
  readonly outOfScope: readonly OutOfScopeInput[];
  readonly namespaces: ReadonlyMap<string, Namespace>;
  readonly attempts: readonly Attempt[];
  /** Names the closest candidate, for "did you mean". */
  readonly suggest: (word: string, candidates: Iterable<string>) => string | undefined;
}

export interface ResolvedSegments extends ScenarioSegments {
  readonly problems: readonly Problem[];
  readonly warnings: readonly Problem[];
}

/**
 * Checks segments against the scenario: every namespace named is one of the scenario's, none is
 * in two segments, every segment `isolate` names exists and none is isolated from itself; warns
 * for a pair no attempt tests, since the report would then show an untested boundary.
 */
export function resolveSegments(props: ResolveSegmentsProps): ResolvedSegments {
  const { doc } = props;
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const hint = (word: string, candidates: Iterable<string>) => {
    const near = props.suggest(word, candidates);
    return near ? ` (did you mean '${near}'?)` : '';
  };

  const segmentAt = new Map<string, number>();
  const segmentOf = new Map<string, { name: string; line: number }>();
  const segments: Segment[] = [];
  props.segments.forEach((s, i) => {
    const at: DocPath = ['spec', 'segments', i];
    const first = segmentAt.get(s.name);
    if (first !== undefined) {
      problems.push(
        doc.problem(
          [...at, 'name'],
          `segment '${s.name}' is already declared at line ${doc.locate(['spec', 'segments', first]).line}`,
        ),
      );
      return;
    }
    segmentAt.set(s.name, i);
    const namespaces: string[] = [];
    s.namespaces.forEach((ns, j) => {
      const where: DocPath = [...at, 'namespaces', j];
      if (!props.namespaces.has(ns)) {
        problems.push(
          doc.problem(
            where,
            `names no namespace of the scenario: '${ns}'${hint(ns, props.namespaces.keys())}`,
          ),
        );
        return;
      }
      const owner = segmentOf.get(ns);
      if (owner) {
        problems.push(
          doc.problem(
            where,
            owner.name === s.name
              ? `namespace '${ns}' is listed twice in segment '${s.name}'`
              : `namespace '${ns}' is already in segment '${owner.name}' (line ${owner.line}); a namespace is in one segment at most`,
          ),
        );
        return;
      }
      segmentOf.set(ns, { name: s.name, line: doc.locate(where).line });
      namespaces.push(ns);
    });
    segments.push({
      name: s.name,
      ...(s.description === undefined ? {} : { description: s.description }),
      namespaces,
    });
  });

  const isolate: IsolationPair[] = [];
  const seen = new Set<string>();
  props.isolate.forEach((rule, i) => {
    const at: DocPath = ['spec', 'isolate', i];
    const known = (name: string, where: DocPath) => {
      if (segmentAt.has(name)) return true;
      problems.push(
        doc.problem(
          where,
          segmentAt.size === 0
            ? `names segment '${name}', but spec.segments declares none`
            : `names no segment of the scenario: '${name}'${hint(name, segmentAt.keys())}`,
        ),
      );
      return false;
    };
    const fromKnown = known(rule.from, [...at, 'from']);
    rule.to.forEach((to, j) => {
      const where: DocPath = [...at, 'to', j];
      if (!known(to, where) || !fromKnown) return;
      if (to === rule.from) {
        problems.push(doc.problem(where, `segment '${to}' cannot be isolated from itself`));
        return;
      }
      const key = `${rule.from}>${to}`;
      if (seen.has(key)) {
        problems.push(doc.problem(where, `'${rule.from}' to '${to}' is declared twice`));
        return;
      }
      seen.add(key);
      isolate.push({ from: rule.from, to });
    });
  });

  if (problems.length === 0) {
    props.isolate.forEach((rule, i) => {
      rule.to.forEach((to, j) => {
        if (pairAttempts(props.attempts, { from: rule.from, to }, segments).length > 0) return;
        warnings.push(
          doc.problem(
            ['spec', 'isolate', i, 'to', j],
            `no attempt goes from segment '${rule.from}' to segment '${to}': the report will show this boundary as untested`,
          ),
        );
      });
    });
  }

  const outOfScope = props.outOfScope.map((o) => ({
    name: o.name,
    ...(o.reason === undefined ? {} : { reason: o.reason }),
  }));
  return { segments, isolate, outOfScope, problems, warnings };
}

/** The attempts that test one direction of isolation: from a workload of `from` to one of `to`. */
export function pairAttempts<
  A extends { readonly from: { readonly namespace: string }; readonly to?: { readonly namespace: string } },
>(attempts: readonly A[], pair: IsolationPair, segments: readonly Segment[]): A[] {
  const from = new Set(segments.find((s) => s.name === pair.from)?.namespaces ?? []);
  const to = new Set(segments.find((s) => s.name === pair.to)?.namespaces ?? []);
  return attempts.filter((a) => a.to !== undefined && from.has(a.from.namespace) && to.has(a.to.namespace));
}

/** An out-of-scope system as one line: `name: reason`. */
export function outOfScopeText(o: OutOfScope): string {
  return o.reason ? `${o.name}: ${o.reason}` : o.name;
}
