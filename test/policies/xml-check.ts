/**
 * A small XML well-formedness check for the reports the tests produce: tags nest and close,
 * attributes are quoted, text and attribute values hold no raw '<' or '&' outside entities, and
 * no character XML 1.0 forbids. Returns the problems found (empty when well-formed).
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;

export function wellFormedXml(xml: string): string[] {
  const problems: string[] = [];
  if (FORBIDDEN.test(xml)) problems.push('forbidden character');
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let roots = 0;
  for (const m of body.matchAll(token)) {
    const [, closing, name, attributes, selfClosing, text, stray] = m;
    if (stray !== undefined) {
      problems.push(`stray '<' at ${m.index}`);
      continue;
    }
    if (text !== undefined) {
      if (ENTITY.test(text)) problems.push(`raw '&' in text at ${m.index}`);
      if (stack.length === 0 && text.trim() !== '') problems.push('text outside the root element');
      continue;
    }
    if (attributes && ENTITY.test(attributes)) problems.push(`raw '&' in attributes of <${name ?? ''}>`);
    if (closing) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name ?? ''}> closes <${open ?? 'nothing'}>`);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name ?? '');
    } else if (stack.length === 0) {
      roots++;
    }
  }
  if (stack.length > 0) problems.push(`unclosed <${stack.join('>, <')}>`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}
