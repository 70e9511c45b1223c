/**
 * A small XML well-formedness check for the benchmark chart (no XML parser among the
 * dependencies): one root element, every tag closed in order, attributes quoted and unique,
 * `<` never in text or attribute values, `&` only in a known or numeric entity. Returns the
 * problems found; none means well-formed. Enough for SVG written by our own code; no DTDs.
 */
const NAME = '[A-Za-z_][\\w.:-]*';
const TOKEN = new RegExp(
  `<!--[\\s\\S]*?-->|<\\?[\\s\\S]*?\\?>|<(/?)(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^"]*"|'[^']*'))*)\\s*(/?)>|<|[^<]+`,
  'g',
);
const ATTR = new RegExp(`(${NAME})\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'g');
const BAD_AMP = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;

export function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const open: string[] = [];
  let roots = 0;
  for (const m of xml.matchAll(TOKEN)) {
    const [token, closing, name, attrs, selfClosing] = m;
    if (token.startsWith('<!--') || token.startsWith('<?')) continue;
    if (name === undefined) {
      if (token === '<') problems.push(`stray "<" at ${m.index}`);
      else if (open.length === 0 && token.trim() !== '') problems.push(`text outside the root at ${m.index}`);
      else if (BAD_AMP.test(token)) problems.push(`bare "&" in text at ${m.index}`);
      continue;
    }
    if (closing) {
      const top = open.pop();
      if (top !== name) problems.push(`</${name}> closes <${top ?? 'nothing'}> at ${m.index}`);
      continue;
    }
    if (open.length === 0 && ++roots > 1) problems.push(`second root element <${name}> at ${m.index}`);
    const seen = new Set<string>();
    for (const a of (attrs ?? '').matchAll(ATTR)) {
      if (seen.has(a[1]!)) problems.push(`attribute ${a[1]} twice on <${name}> at ${m.index}`);
      seen.add(a[1]!);
      if (BAD_AMP.test(a[2] ?? a[3] ?? '')) problems.push(`bare "&" in ${a[1]} at ${m.index}`);
    }
    if (!selfClosing) open.push(name);
  }
  if (open.length > 0) problems.push(`unclosed: ${open.join(' > ')}`);
  if (roots === 0) problems.push('no root element');
  return problems;
}
