/** Label and field selectors as the API server parses them (the subset clients commonly send). */

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

export function parseLabelSelector(selector: string | null): Requirement {
  if (!selector) return () => true;
  const requirements: Requirement[] = [];
  // Split on commas that are not inside a set: "a in (x,y),b=c".
  for (const part of selector.match(/(?:[^,(]|\([^)]*\))+/g) ?? []) {
    const term = part.trim();
    let m: RegExpMatchArray | null;
    if ((m = /^!\s*([\w./-]+)$/.exec(term))) {
      const key = m[1] ?? '';
      requirements.push((l) => !(key in l));
    } else if ((m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      const [, key = '', op, list = ''] = m;
      const values = new Set(list.split(',').map((v) => v.trim()));
      requirements.push((l) =>
        op === 'in' ? l[key] !== undefined && values.has(l[key]) : !values.has(l[key] ?? '\0'),
      );
    } else if ((m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(term))) {
      const [, key = '', op, value = ''] = m;
      requirements.push((l) => (op === '!=' ? l[key] !== value : l[key] === value));
    } else if ((m = /^([\w./-]+)$/.exec(term))) {
      const key = m[1] ?? '';
      requirements.push((l) => key in l);
    } else {
      throw new Error(`unable to parse requirement: ${term}`);
    }
  }
  return (labels) => requirements.every((r) => r(labels));
}

export function parseFieldSelector(selector: string | null): (object: Record<string, unknown>) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(',').map((t) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(t.trim());
    if (!m) throw new Error(`invalid field selector: ${t}`);
    return { path: (m[1] ?? '').split('.'), negate: m[2] === '!=', value: m[3] ?? '' };
  });
  return (object) =>
    terms.every(({ path, negate, value }) => {
      let v: unknown = object;
      for (const step of path)
        v = v && typeof v === 'object' ? (v as Record<string, unknown>)[step] : undefined;
      const actual = typeof v === 'string' || typeof v === 'number' ? String(v) : '';
      return negate ? actual !== value : actual === value;
    });
}
