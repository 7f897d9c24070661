/**
 * Kubernetes label selectors (matchLabels + matchExpressions), as NetworkPolicy, Istio's
 * `selector.matchLabels` and RBAC use them. An empty selector selects everything.
 */
import { NotUnderstood, list, obj, onlyKeys, str, stringMap, strings } from './read.js';

export type Labels = Readonly<Record<string, string>>;
export type LabelMatcher = (labels: Labels) => boolean;

export const MATCH_ALL: LabelMatcher = () => true;

/** Compiles a LabelSelector; throws {@link NotUnderstood} for an operator or shape it does not know. */
export function compileLabelSelector(value: unknown, where: string): LabelMatcher {
  const sel = obj(value, where);
  onlyKeys(sel, ['matchLabels', 'matchExpressions'], where);
  const tests: LabelMatcher[] = [];
  for (const [key, want] of Object.entries(stringMap(sel.matchLabels, `${where}.matchLabels`))) {
    tests.push((labels) => labels[key] === want);
  }
  list(sel.matchExpressions, `${where}.matchExpressions`).forEach((raw, i) => {
    const at = `${where}.matchExpressions[${i}]`;
    const e = obj(raw, at);
    onlyKeys(e, ['key', 'operator', 'values'], at);
    const key = str(e.key, `${at}.key`);
    if (key === undefined) throw new NotUnderstood(`${at}.key is required`);
    const operator = str(e.operator, `${at}.operator`);
    const values = strings(e.values, `${at}.values`);
    switch (operator) {
      case 'In':
      case 'NotIn': {
        if (values.length === 0)
          throw new NotUnderstood(`${at}: ${operator} needs values (rejected by the API)`);
        const set = new Set(values);
        tests.push(
          operator === 'In'
            ? (labels) => key in labels && set.has(labels[key] ?? '')
            : (labels) => !(key in labels) || !set.has(labels[key] ?? ''),
        );
        break;
      }
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0)
          throw new NotUnderstood(`${at}: ${operator} takes no values (rejected by the API)`);
        tests.push(operator === 'Exists' ? (labels) => key in labels : (labels) => !(key in labels));
        break;
      case undefined:
      default:
        throw new NotUnderstood(
          `${at}.operator '${String(operator)}' is not In, NotIn, Exists or DoesNotExist`,
        );
    }
  });
  if (tests.length === 0) return MATCH_ALL;
  if (tests.length === 1) return tests[0] ?? MATCH_ALL;
  return (labels) => tests.every((t) => t(labels));
}

/** Istio's `selector: {matchLabels}` (WorkloadSelector): all labels must match; empty selects all. */
export function compileMatchLabels(value: unknown, where: string): { match: LabelMatcher; empty: boolean } {
  const sel = obj(value, where);
  onlyKeys(sel, ['matchLabels'], where);
  const want = Object.entries(stringMap(sel.matchLabels, `${where}.matchLabels`));
  if (want.length === 0) return { match: MATCH_ALL, empty: true };
  return { match: (labels) => want.every(([k, v]) => labels[k] === v), empty: false };
}
