/**
 * Header injection rules: headers (typically credentials) the host adds to outgoing fetch()
 * requests so that user code never holds them. A rule matches a host (exact, or `*.domain` for
 * the domain and its subdomains) and optionally a set of methods; headers the code set itself
 * win. Rule values are secrets: nothing here ever puts one in an error message.
 *
 * Sources: `--fetch-header "host=…,header=…,value=…[,methods=GET;POST]"` (repeatable) and
 * `--fetch-header-config file.json` (`[{host, methods?, headers}]`); the CLI merges them and the
 * runner receives them over IPC.
 */
import { z } from 'zod';

/** Most rules a server accepts (flags and file together). */
export const MAX_HEADER_RULES = 1000;
/** Most headers one rule injects. */
export const MAX_RULE_HEADERS = 64;
/** Longest injected header value. */
export const MAX_HEADER_VALUE_CHARS = 8192;

/** RFC 9110 token: header names and methods. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters other than tab may not appear in a header value (CR/LF would split it). */
// eslint-disable-next-line no-control-regex
const BAD_VALUE_CHARS = /[\x00-\x08\x0a-\x1f\x7f]/;
/** `host`, `*.host`, an IPv4 address or a bracketed IPv6 literal; lower case. */
const HOST_PATTERN =
  /^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/;
const IPV4_LITERAL = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** True for a value that may be sent as a header value (no CR, LF or other control characters). */
export function isHeaderValue(value: string): boolean {
  return value.length <= MAX_HEADER_VALUE_CHARS && !BAD_VALUE_CHARS.test(value);
}

const HostSchema = z
  .string()
  .max(253, 'must be at most 253 characters')
  .transform((h) => h.toLowerCase())
  .refine((h) => HOST_PATTERN.test(h) || IPV6_LITERAL.test(h), {
    message: 'must be a host name (api.example.com) or a wildcard (*.example.com)',
  });
const MethodSchema = z
  .string()
  .max(32, 'a method must be at most 32 characters')
  .regex(TOKEN, 'a method must be an HTTP token such as GET')
  .transform((m) => m.toUpperCase());
const HeaderNameSchema = z
  .string()
  .max(256, 'a header name must be at most 256 characters')
  .regex(TOKEN, 'a header name must be an HTTP token such as X-API-Key');
const HeaderValueSchema = z.string().refine(isHeaderValue, {
  message: `a header value must be at most ${MAX_HEADER_VALUE_CHARS} characters without control characters`,
});

/** One rule, as in the config file and as the runner receives it. */
export const HeaderRuleSchema = z
  .object({
    host: HostSchema,
    methods: z.array(MethodSchema).min(1).max(32).optional(),
    headers: z
      .record(HeaderNameSchema, HeaderValueSchema)
      .refine((h) => Object.keys(h).length >= 1 && Object.keys(h).length <= MAX_RULE_HEADERS, {
        message: `a rule must inject from 1 to ${MAX_RULE_HEADERS} headers`,
      }),
  })
  .strict();
export type HeaderRule = z.infer<typeof HeaderRuleSchema>;

export const HeaderRulesSchema = z.array(HeaderRuleSchema).max(MAX_HEADER_RULES);

/**
 * Describes a schema failure by where and what, never by the rejected value (it may be a secret).
 */
function describeIssues(error: z.ZodError, max = 5): string {
  return error.issues
    .slice(0, max)
    .map((i) => {
      const where = i.path.map((p) => String(p).slice(0, 64)).join('.');
      // Zod says "Invalid key in record" for a bad header name; say what a name must be.
      const message =
        i.code === 'invalid_key' ? 'a header name must be an HTTP token such as X-API-Key' : i.message;
      return where === '' ? message : `${where}: ${message}`;
    })
    .join('; ');
}

const FLAG_KEYS = ['host', 'header', 'value', 'methods'] as const;
type FlagKey = (typeof FLAG_KEYS)[number];

/**
 * Parses one `--fetch-header` value. A segment that is not `key=` with a known key continues
 * the value before it, so a value may contain commas (`value=a,b`).
 * @returns the rule, or a problem description that does not contain the value.
 */
export function parseHeaderFlag(spec: string): { rule: HeaderRule } | { problem: string } {
  if (spec.length > MAX_HEADER_VALUE_CHARS + 1024) return { problem: 'the rule is too long' };
  const fields = new Map<FlagKey, string>();
  let last: FlagKey | undefined;
  for (const [index, segment] of spec.split(',').entries()) {
    const eq = segment.indexOf('=');
    const key = (eq > 0 ? segment.slice(0, eq).trim().toLowerCase() : '') as FlagKey;
    if (FLAG_KEYS.includes(key)) {
      if (fields.has(key)) return { problem: `${key}= is given twice` };
      fields.set(key, segment.slice(eq + 1));
      last = key;
    } else if (last === 'value') {
      fields.set('value', `${fields.get('value')},${segment}`);
    } else {
      return { problem: `segment ${index + 1} is not one of host=, header=, value=, methods=` };
    }
  }
  for (const key of ['host', 'header', 'value'] as const) {
    if (!fields.has(key)) return { problem: `${key}= is missing (expected host=…,header=…,value=…)` };
  }
  const methods = fields.get('methods');
  const parsed = HeaderRuleSchema.safeParse({
    host: fields.get('host')!.trim(),
    ...(methods !== undefined && {
      methods: methods
        .split(';')
        .map((m) => m.trim())
        .filter(Boolean),
    }),
    headers: { [fields.get('header')!.trim()]: fields.get('value')! },
  });
  return parsed.success ? { rule: parsed.data } : { problem: describeIssues(parsed.error) };
}

/**
 * Parses the text of a `--fetch-header-config` file.
 * @returns the rules, or a problem description that does not contain any value.
 */
export function parseHeaderRulesJson(text: string): { rules: HeaderRule[] } | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be a secret.
    return { problem: 'is not valid JSON' };
  }
  if (!Array.isArray(json)) return { problem: 'must be a JSON array of {host, methods?, headers}' };
  const parsed = HeaderRulesSchema.safeParse(json);
  return parsed.success ? { rules: parsed.data } : { problem: describeIssues(parsed.error) };
}

/**
 * True when `hostname` (as in URL.hostname) matches `pattern`: exactly, or for `*.domain` the
 * domain itself and any name ending in `.domain` (so `*.example.com` matches `example.com` and
 * `a.b.example.com`, but not `evilexample.com` or `example.com.evil.org`). IP addresses only
 * match exactly. A trailing dot (fully qualified name) is ignored on both sides.
 */
export function hostMatches(pattern: string, hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  const p = pattern.toLowerCase().replace(/\.$/, '');
  // An IP address is not a domain: `*.0.0.1` must not match 127.0.0.1.
  if (!p.startsWith('*.') || IPV4_LITERAL.test(host) || IPV6_LITERAL.test(host)) return host === p;
  const domain = p.slice(2);
  return host === domain || host.endsWith(`.${domain}`);
}

interface CompiledRule {
  host: string;
  methods: ReadonlySet<string> | undefined;
  headers: ReadonlyArray<readonly [string, string]>;
}

/** Decides which headers to inject into a request; built once per runner from its rules. */
export class HeaderInjector {
  readonly #rules: readonly CompiledRule[];

  constructor(rules: readonly HeaderRule[]) {
    this.#rules = rules.map((r) => ({
      host: r.host,
      methods: r.methods && new Set(r.methods.map((m) => m.toUpperCase())),
      headers: Object.entries(r.headers).map(([n, v]) => [n.toLowerCase(), v] as const),
    }));
  }

  get size(): number {
    return this.#rules.length;
  }

  /**
   * The headers to add to a request for `url` with `method` that already carries `present`
   * (lower-case names, set by the code): matching rules in order, the first rule naming a
   * header wins, and a header the code set is never replaced.
   */
  headersFor(url: URL, method: string, present: ReadonlySet<string>): Map<string, string> {
    const out = new Map<string, string>();
    const m = method.toUpperCase();
    for (const rule of this.#rules) {
      if (!hostMatches(rule.host, url.hostname)) continue;
      if (rule.methods && !rule.methods.has(m)) continue;
      for (const [name, value] of rule.headers) {
        if (!present.has(name) && !out.has(name)) out.set(name, value);
      }
    }
    return out;
  }

  /** Every value a rule may inject (to scrub them from text that reaches user code or logs). */
  values(): string[] {
    return [...new Set(this.#rules.flatMap((r) => r.headers.map(([, v]) => v)))];
  }
}
