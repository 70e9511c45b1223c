/**
 * Turns what a cell or a downloaded module writes after `import … from` into the absolute
 * http(s) URL the host downloads. `npm:` and `jsr:` go through a CDN (esm.sh by default, which
 * compiles packages to ES modules); everything that could reach the host itself (`file:`,
 * `node:`, `data:`) is refused here, before any policy or network is involved.
 */
import { Mcpv8Error } from '../../core/errors.ts';

/** The CDN `npm:`, `jsr:` and bare specifiers resolve through unless configured otherwise. */
export const DEFAULT_CDN_BASE = 'https://esm.sh';

/** Longest specifier accepted; longer ones are refused rather than sent to a server. */
export const MAX_SPECIFIER_LENGTH = 2048;

// npm's own rules, plus upper case for the few legacy packages (JSONStream) that have it.
const NPM_SCOPE = String.raw`@[a-z0-9~-][a-z0-9._~-]*`;
const NPM_NAME = String.raw`[a-z0-9~-][a-z0-9._~-]*`;
// Exact versions, dist-tags and the usual one-token ranges (^1, ~1.2, 1.x, >=2).
const VERSION = String.raw`[a-z0-9.^~*+_<>=-]+`;
// One or more path segments after the package; `%` is excluded because `%2e%2e` is `..` to URL.
const SUBPATH = String.raw`(?:/[a-z0-9._~!$&'()*+,;=:@-]+)+`;
const NPM_RE = new RegExp(`^((?:${NPM_SCOPE}/)?${NPM_NAME})(?:@(${VERSION}))?(${SUBPATH})?$`, 'i');
// jsr packages are always scoped and use a narrower alphabet.
const JSR_RE = new RegExp(String.raw`^(@[a-z0-9-]+/[a-z0-9-]+)(?:@(${VERSION}))?(${SUBPATH})?$`, 'i');
const SCHEME_RE = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Validates a CDN base URL and returns it without trailing slashes, ready to have
 * `/<pkg>@<version>` appended.
 *
 * @throws {Mcpv8Error} MCPV8_ERR_CONFIG_INVALID when it is not an http(s) URL, carries
 *   credentials, a query or a fragment.
 */
export function normalizeCdnBase(cdnBase: string): string {
  const url = URL.parse(cdnBase);
  if (
    url === null ||
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new Mcpv8Error(
      'MCPV8_ERR_CONFIG_INVALID',
      [
        `module CDN base must be an http(s) URL without credentials, query or fragment, got ${quoteSpecifier(cdnBase)}`,
      ],
      { details: { cdnBase } },
    );
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/**
 * Resolves an import specifier to the absolute URL to download.
 *
 * - `npm:pkg@1.2.3/sub`, `npm:@scope/pkg@1` and bare `pkg` → `<cdn>/pkg@1.2.3/sub` (bare
 *   specifiers are treated as npm at top level and inside modules, as esm.sh does);
 * - `jsr:@scope/pkg@1/sub` → `<cdn>/jsr/@scope/pkg@1/sub`;
 * - `https://…` / `http://…` → normalised by `URL`;
 * - `./x`, `../x`, `/x`, `//host/x` → resolved against `parentUrl` (only inside a module).
 *
 * Pure and synchronous; safe to call concurrently.
 *
 * @param parentUrl absolute http(s) URL of the importing module; `undefined` for a cell.
 * @param cdnBase http(s) base URL of the CDN, e.g. {@link DEFAULT_CDN_BASE}.
 * @throws {Mcpv8Error} MCPV8_ERR_MODULE_SPECIFIER_INVALID for any other scheme (`file:`,
 *   `node:`, `data:`…), an empty or over-long specifier, a malformed package name, a relative
 *   specifier without a parent module, URLs with credentials, or an `http:` import from an
 *   `https:` module. MCPV8_ERR_CONFIG_INVALID when `cdnBase` is invalid.
 */
export function resolveModuleSpecifier(
  specifier: string,
  parentUrl: string | undefined,
  cdnBase: string,
): string {
  const cdn = normalizeCdnBase(cdnBase);
  const fail = (reason: string): never => {
    throw new Mcpv8Error('MCPV8_ERR_MODULE_SPECIFIER_INVALID', [quoteSpecifier(specifier), reason], {
      details: { specifier: truncate(specifier), parentUrl },
    });
  };

  if (specifier.trim() === '') return fail('the specifier is empty');
  if (specifier.length > MAX_SPECIFIER_LENGTH) {
    return fail(`the specifier is longer than ${MAX_SPECIFIER_LENGTH} characters`);
  }
  const scheme = SCHEME_RE.exec(specifier)?.[1]?.toLowerCase();
  switch (scheme) {
    case undefined:
    case 'npm':
    case 'jsr':
    case 'https':
    case 'http':
      break;
    case 'node':
      return fail('Node.js built-in modules are not available in the sandbox; use an npm: package instead');
    case 'file':
      return fail('the host file system cannot be imported; import npm:, jsr: or https:// modules');
    default:
      return fail(
        `the ${scheme}: scheme is not supported; use npm:<pkg>@<version>, jsr:@<scope>/<pkg>@<version>, ` +
          'an https:// URL or a relative path inside a module',
      );
  }
  // Blanks and control characters would be silently dropped or rewritten by URL parsing.
  if (/[\s\p{Cc}\\]/u.test(specifier)) {
    return fail('specifiers may not contain whitespace, control characters or backslashes');
  }

  if (specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('/')) {
    const parent = parentUrl === undefined ? null : URL.parse(parentUrl);
    if (parent === null || (parent.protocol !== 'https:' && parent.protocol !== 'http:')) {
      return fail(
        'relative and root-relative specifiers only work inside a module downloaded over http(s); ' +
          'from a cell, import npm:<pkg>@<version>, jsr:@<scope>/<pkg>@<version> or a full https:// URL',
      );
    }
    return checkUrl(new URL(specifier, parent), parent, fail);
  }

  switch (scheme) {
    case 'npm':
      return npmUrl(cdn, specifier.slice('npm:'.length), fail);
    case 'jsr':
      return jsrUrl(cdn, specifier.slice('jsr:'.length), fail);
    case 'https':
    case 'http': {
      const url = URL.parse(specifier);
      if (url === null || url.hostname === '') return fail('it is not a valid URL');
      return checkUrl(url, parentUrl === undefined ? null : URL.parse(parentUrl), fail);
    }
    default:
      return npmUrl(cdn, specifier, fail);
  }
}

/** `pkg@1/sub` → `<cdn>/pkg@1/sub`, keeping the result inside the package's path. */
function npmUrl(cdn: string, rest: string, fail: (reason: string) => never): string {
  const m = NPM_RE.exec(rest);
  if (m === null) {
    return fail(
      'expected npm:<name>[@<version>][/<subpath>] (for example npm:lodash-es@4.17.21 or ' +
        'npm:@scope/pkg@1/sub); queries and fragments are only allowed in full https:// URLs',
    );
  }
  return packageUrl(`${cdn}/`, m, fail);
}

/** `@scope/pkg@1/sub` → `<cdn>/jsr/@scope/pkg@1/sub`. */
function jsrUrl(cdn: string, rest: string, fail: (reason: string) => never): string {
  const m = JSR_RE.exec(rest);
  if (m === null) {
    return fail('expected jsr:@<scope>/<name>[@<version>][/<subpath>] (for example jsr:@std/path@1.0.8)');
  }
  return packageUrl(`${cdn}/jsr/`, m, fail);
}

function packageUrl(prefix: string, m: RegExpExecArray, fail: (reason: string) => never): string {
  const [, name = '', version, subpath = ''] = m;
  const pkg = `${prefix}${name}${version === undefined ? '' : `@${version}`}`;
  const pkgHref = new URL(pkg).href;
  const url = new URL(pkg + subpath);
  // `.`/`..` segments would climb out of the package (and out of the CDN's path prefix).
  if (url.href !== pkgHref && !url.href.startsWith(`${pkgHref}/`)) {
    return fail('the subpath may not contain . or .. segments');
  }
  return url.href;
}

function checkUrl(url: URL, parent: URL | null, fail: (reason: string) => never): string {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return fail('only http(s) URLs can be imported');
  }
  if (url.username !== '' || url.password !== '') {
    return fail('URLs with credentials (user:password@) cannot be imported');
  }
  // Same reason browsers block mixed content: a plain-http hop lets the network rewrite code.
  if (url.protocol === 'http:' && parent?.protocol === 'https:') {
    return fail('a module downloaded over https may not import over plain http');
  }
  if (url.href.length > MAX_SPECIFIER_LENGTH) {
    return fail(`the resolved URL is longer than ${MAX_SPECIFIER_LENGTH} characters`);
  }
  return url.href;
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** A specifier for an error message: quoted and shortened, so it cannot flood or garble the text. */
export function quoteSpecifier(s: string): string {
  return JSON.stringify(truncate(s));
}
