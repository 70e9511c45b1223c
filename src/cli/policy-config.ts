/**
 * The policy part of the configuration: which OPA policies gate fetch, the file system and module
 * downloads. `--policies-json` lists the sources of each category (a remote OPA, or local `.rego`
 * files served by a managed `opa` process); `--opa-url` + `--opa-fetch-policy` is the seed's
 * shorthand for one remote fetch source. Every problem is appended to the CLI's list, so a bad
 * file is reported with all its mistakes at once.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { PolicyCategory } from '../core/index.ts';

/** One policy source: a remote OPA, or `.rego` files (absolute paths) served by the managed OPA. */
export type PolicySourceConfig =
  { kind: 'remote'; url: string; path: string } | { kind: 'rego'; files: readonly string[]; path: string };

/** One category: its sources and how they combine. */
export interface PolicyCategoryConfig {
  mode: 'all' | 'any';
  timeoutMs: number;
  sources: readonly PolicySourceConfig[];
}

/** Policies per category; a category absent is not offered to user code. */
export interface PolicyConfig {
  categories: Partial<Record<PolicyCategory, PolicyCategoryConfig>>;
  /** The `opa` binary that serves local `.rego` sources (`opa`, found on PATH, by default). */
  opaBinary: string;
  /**
   * `filesystem.roots` of --policies-json: directories fs operations are confined to on top of
   * the policy (real paths, after symlinks). Absent: the policy alone decides.
   */
  filesystemRoots?: readonly string[];
}

/** Policy flags → [type, help]; spread into the CLI's flag table. */
export const POLICY_FLAGS = {
  'opa-url': ['string', 'OPA server that decides every fetch() request, e.g. http://127.0.0.1:8181'],
  'opa-fetch-policy': ['string', 'Decision path of the fetch policy on --opa-url (default mcp/fetch)'],
  'policies-json': [
    'string',
    'JSON file of policy sources for fetch, filesystem and modules (remote OPA or local .rego)',
  ],
  'opa-binary': ['string', 'The opa binary that serves local .rego policies (default: opa on PATH)'],
} as const;

type PolicyFlag = keyof typeof POLICY_FLAGS;

/** How the CLI reads a flag (or its MCP_V8_* equivalent). */
export interface PolicyFlagReader {
  str(flag: PolicyFlag): string | undefined;
}

export const DEFAULT_FETCH_POLICY = 'mcp/fetch';
export const DEFAULT_POLICY_TIMEOUT_MS = 2000;
const MAX_POLICY_TIMEOUT_MS = 60_000;
const DECISION_PATH = /^[A-Za-z0-9_]+(\/[A-Za-z0-9_]+)*$/;
const MAX_FILE_BYTES = 1024 * 1024;

const SourceSchema = z
  .strictObject({
    url: z.string().optional(),
    rego: z.array(z.string().min(1)).min(1).optional(),
    path: z.string().regex(DECISION_PATH, 'must be a decision path like mcp/fetch'),
  })
  .superRefine((source, ctx) => {
    if ((source.url === undefined) === (source.rego === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either "url" (a remote OPA) or "rego" (local .rego files)',
      });
    }
    const bad = source.url === undefined ? undefined : opaUrlProblem(source.url);
    if (bad !== undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: bad });
  });

const CategorySchema = z.strictObject({
  mode: z.enum(['all', 'any']).default('all'),
  timeout_ms: z.number().int().min(1).max(MAX_POLICY_TIMEOUT_MS).default(DEFAULT_POLICY_TIMEOUT_MS),
  sources: z.array(SourceSchema).min(1),
});

const FilesystemCategorySchema = CategorySchema.extend({
  roots: z
    .array(z.string().refine((p) => isAbsolute(p) && !p.includes('\0'), 'must be an absolute path'))
    .min(1)
    .max(64)
    .optional(),
});

/** The `--policies-json` format (snake_case, as written by people). */
export const PoliciesFileSchema = z.strictObject({
  fetch: CategorySchema.optional(),
  filesystem: FilesystemCategorySchema.optional(),
  modules: CategorySchema.optional(),
});

/** The policy configuration; each problem is appended to `problems`. */
export function readPolicies(read: PolicyFlagReader, problems: string[]): PolicyConfig {
  const categories: PolicyConfig['categories'] = {};
  const file = read.str('policies-json');
  let filesystemRoots: string[] | undefined;
  if (file !== undefined) {
    const parsed = readPoliciesFile(file, problems);
    Object.assign(categories, parsed.categories);
    filesystemRoots = parsed.filesystemRoots;
  }

  const opaUrl = read.str('opa-url');
  const fetchPolicy = read.str('opa-fetch-policy');
  if (fetchPolicy !== undefined && opaUrl === undefined) problems.push('--opa-fetch-policy needs --opa-url');
  if (fetchPolicy !== undefined && !DECISION_PATH.test(fetchPolicy))
    problems.push(
      `--opa-fetch-policy must be a decision path like mcp/fetch, got "${fetchPolicy.slice(0, 200)}"`,
    );
  if (opaUrl !== undefined) {
    const bad = opaUrlProblem(opaUrl);
    if (bad !== undefined) problems.push(`--opa-url ${bad}`);
    const shorthand: PolicySourceConfig = {
      kind: 'remote',
      url: trimUrl(opaUrl),
      path: fetchPolicy ?? DEFAULT_FETCH_POLICY,
    };
    // Merged with the file's fetch sources (under the file's mode and timeout), not replacing them.
    const fetch = categories.fetch;
    categories.fetch = fetch
      ? { ...fetch, sources: [...fetch.sources, shorthand] }
      : { mode: 'all', timeoutMs: DEFAULT_POLICY_TIMEOUT_MS, sources: [shorthand] };
  }
  return {
    categories,
    opaBinary: read.str('opa-binary') ?? 'opa',
    ...(filesystemRoots && { filesystemRoots }),
  };
}

/** Every local `.rego` file the configuration names, each once. */
export function localRegoFiles(config: PolicyConfig): string[] {
  const files = Object.values(config.categories).flatMap((c) =>
    c.sources.flatMap((s) => (s.kind === 'rego' ? s.files : [])),
  );
  return [...new Set(files)];
}

function readPoliciesFile(
  file: string,
  problems: string[],
): { categories: PolicyConfig['categories']; filesystemRoots?: string[] } {
  const where = `--policies-json ${file}`;
  let raw: unknown;
  try {
    if (statSync(file).size > MAX_FILE_BYTES) {
      problems.push(`${where}: larger than ${MAX_FILE_BYTES} bytes`);
      return { categories: {} };
    }
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(
      `${where}: ${err instanceof SyntaxError ? `not valid JSON (${err.message})` : `cannot be read (${code ?? (err as Error).message})`}`,
    );
    return { categories: {} };
  }
  // Rego paths are relative to the JSON file, so a policy bundle can be moved as a folder.
  const base = dirname(resolve(file));
  // Checked on the raw document too, so a missing file is reported along with schema problems.
  checkRegoFiles(raw, base, where, problems);
  const parsed = PoliciesFileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const at = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      problems.push(`${where}: ${at}: ${issue.message}`);
    }
    return { categories: {} };
  }

  const categories: PolicyConfig['categories'] = {};
  for (const [name, category] of Object.entries(parsed.data) as Array<
    [PolicyCategory, z.infer<typeof CategorySchema> | undefined]
  >) {
    if (category === undefined) continue;
    const sources = category.sources.map((s): PolicySourceConfig =>
      s.url !== undefined
        ? { kind: 'remote', url: trimUrl(s.url), path: s.path }
        : { kind: 'rego', files: s.rego!.map((rel) => resolve(base, rel)), path: s.path },
    );
    categories[name] = { mode: category.mode, timeoutMs: category.timeout_ms, sources };
  }
  const roots = parsed.data.filesystem?.roots?.map((r) => resolve(r));
  return { categories, ...(roots && { filesystemRoots: roots }) };
}

/** Reports every `rego` entry of the raw document that is not an existing `.rego` file. */
function checkRegoFiles(raw: unknown, base: string, where: string, problems: string[]): void {
  const entries = (value: unknown): Array<[string, unknown]> =>
    typeof value === 'object' && value !== null ? Object.entries(value) : [];
  for (const [name, category] of entries(raw)) {
    const sources = entries(category).find(([key]) => key === 'sources')?.[1];
    if (!Array.isArray(sources)) continue;
    sources.forEach((source: unknown, i) => {
      const rego = entries(source).find(([key]) => key === 'rego')?.[1];
      if (!Array.isArray(rego)) return;
      rego.forEach((rel: unknown, j) => {
        if (typeof rel !== 'string' || rel === '') return;
        const abs = resolve(base, rel);
        const problem = regoFileProblem(abs);
        if (problem !== undefined)
          problems.push(`${where}: ${name}.sources.${i}.rego.${j}: ${rel} ${problem} (resolved to ${abs})`);
      });
    });
  }
}

function regoFileProblem(abs: string): string | undefined {
  if (!abs.endsWith('.rego')) return 'is not a .rego file';
  try {
    return statSync(abs).isFile() ? undefined : 'is not a file';
  } catch {
    return 'does not exist';
  }
}

/** Why `value` cannot be an OPA base URL, or undefined when it can. Never echoes credentials. */
function opaUrlProblem(value: string): string | undefined {
  const url = URL.parse(value);
  if (url && (url.username !== '' || url.password !== '')) return 'must not contain credentials';
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.hostname === '')
    return `must be an http(s) URL, got "${value.slice(0, 200)}"`;
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  return undefined;
}

function trimUrl(value: string): string {
  return value.replace(/\/+$/, '');
}
