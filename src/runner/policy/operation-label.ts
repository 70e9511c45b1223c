/**
 * A short human description of the operation a policy decides, for error messages user code and
 * operators read: `fetch GET https://api.example.com/data`, `fs writeFile /tmp/out.txt`,
 * `import https://esm.sh/x`. Built from the policy input, never from header values (which may hold
 * secrets), and without URL queries (API keys often travel there).
 */
import type { PolicyCategory, PolicyInput } from '../../core/index.ts';

const MAX_LABEL_CHARS = 300;

/** The description of `input` of `category`; falls back to the category name. */
export function operationLabel(category: PolicyCategory, input: PolicyInput): string {
  const text = (key: string): string | undefined =>
    typeof input[key] === 'string' && input[key] !== '' ? input[key] : undefined;
  let label: string;
  switch (category) {
    case 'fetch': {
      const url = text('url');
      label = `fetch ${text('method') ?? 'GET'}${url === undefined ? '' : ` ${withoutQuery(url)}`}`;
      break;
    }
    case 'filesystem': {
      const [path, destination] = [text('path'), text('destination')];
      label = `fs ${text('operation') ?? 'operation'}${path === undefined ? '' : ` ${path}`}`;
      if (destination !== undefined) label += ` → ${destination}`;
      break;
    }
    case 'modules': {
      const url = text('url');
      label = url === undefined ? 'module download' : `import ${withoutQuery(url)}`;
      break;
    }
  }
  return label.length > MAX_LABEL_CHARS ? `${label.slice(0, MAX_LABEL_CHARS - 1)}…` : label;
}

function withoutQuery(href: string): string {
  const url = URL.parse(href);
  if (url === null) return href.split(/[?#]/)[0]!;
  // Credentials in a URL would be echoed too; they are dropped with the query.
  url.username = '';
  url.password = '';
  const hadQuery = url.search !== '';
  url.search = '';
  url.hash = '';
  return hadQuery ? `${url.href}?…` : url.href;
}
