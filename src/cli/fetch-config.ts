/**
 * The fetch part of the configuration: header injection rules (`--fetch-header`, repeatable, and
 * `--fetch-header-config file.json`, merged). Rule values are secrets: no problem message quotes
 * one, and the rules reach runners over IPC only. A rule without a fetch policy is a mistake
 * (fetch() does not exist then), reported as such.
 */
import { readFileSync, statSync } from 'node:fs';
import {
  MAX_HEADER_RULES,
  parseHeaderFlag,
  parseHeaderRulesJson,
  type HeaderRule,
} from '../runner/host/header-rules.ts';

/** Fetch flags → [type, help]; spread into the CLI's flag table. */
export const FETCH_FLAGS = {
  'fetch-header': [
    'string',
    'Add a header to fetch() requests: host=<host>,header=<name>,value=<value>[,methods=GET;POST] (repeatable; env: one rule per line)',
  ],
  'fetch-header-config': ['string', 'JSON file of header rules [{"host", "methods"?, "headers": {…}}]'],
} as const;

type FetchFlag = keyof typeof FETCH_FLAGS;

/** How the CLI reads the fetch flags. */
export interface FetchFlagReader {
  str(flag: FetchFlag): string | undefined;
  /** The values given on the command line for a repeatable flag, if any. */
  argv(flag: FetchFlag): readonly string[] | undefined;
}

export interface FetchConfig {
  /** `--fetch-header` rules first, then the file's. */
  headerRules: readonly HeaderRule[];
}

/** The environment equivalent of --fetch-header: one rule per line (rules contain commas). */
export const FETCH_HEADER_ENV = 'MCP_V8_FETCH_HEADER';
const MAX_FILE_BYTES = 1024 * 1024;

/** The fetch configuration; each problem is appended to `problems`. */
export function readFetchConfig(
  read: FetchFlagReader,
  env: NodeJS.ProcessEnv,
  hasFetchPolicy: boolean,
  problems: string[],
): FetchConfig {
  const specs =
    read.argv('fetch-header') ??
    (env[FETCH_HEADER_ENV] ?? '')
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
  const file = read.str('fetch-header-config');
  if ((specs.length > 0 || file !== undefined) && !hasFetchPolicy) {
    problems.push(
      '--fetch-header and --fetch-header-config need a fetch policy (--opa-url, or "fetch" in --policies-json)',
    );
  }
  const rules: HeaderRule[] = [];
  for (const [i, spec] of specs.entries()) {
    const parsed = parseHeaderFlag(spec);
    if ('problem' in parsed) problems.push(`--fetch-header #${i + 1}: ${parsed.problem}`);
    else rules.push(parsed.rule);
  }
  if (file !== undefined) rules.push(...readRulesFile(file, problems));
  if (rules.length > MAX_HEADER_RULES)
    problems.push(`at most ${MAX_HEADER_RULES} header rules are allowed, got ${rules.length}`);
  return { headerRules: rules };
}

function readRulesFile(file: string, problems: string[]): HeaderRule[] {
  const where = `--fetch-header-config ${file}`;
  let text: string;
  try {
    if (statSync(file).size > MAX_FILE_BYTES) {
      problems.push(`${where}: larger than ${MAX_FILE_BYTES} bytes`);
      return [];
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${where}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return [];
  }
  const parsed = parseHeaderRulesJson(text);
  if ('problem' in parsed) {
    problems.push(`${where}: ${parsed.problem}`);
    return [];
  }
  return parsed.rules;
}
