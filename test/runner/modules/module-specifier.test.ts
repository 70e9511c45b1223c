import { describe, expect, it } from 'vitest';
import { isMcpv8Error } from '../../../src/core/errors.ts';
import {
  DEFAULT_CDN_BASE,
  normalizeCdnBase,
  resolveModuleSpecifier,
} from '../../../src/runner/modules/module-specifier.ts';

const CDN = DEFAULT_CDN_BASE;
const ESM_MODULE = 'https://esm.sh/pkg@1.0.0/es2022/lib/main.mjs';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('resolveModuleSpecifier', () => {
  it.each([
    ['npm:lodash-es@4.17.21', undefined, 'https://esm.sh/lodash-es@4.17.21'],
    ['npm:lodash-es@4.17.21/debounce.js', undefined, 'https://esm.sh/lodash-es@4.17.21/debounce.js'],
    ['npm:@scope/pkg@1.2.3', undefined, 'https://esm.sh/@scope/pkg@1.2.3'],
    ['npm:@scope/pkg@1.2.3/sub/path', undefined, 'https://esm.sh/@scope/pkg@1.2.3/sub/path'],
    // URL percent-encodes ^ in paths; the CDN decodes it again.
    ['npm:preact@^10', undefined, 'https://esm.sh/preact@%5E10'],
    ['npm:react', undefined, 'https://esm.sh/react'],
    ['jsr:@std/path@1.0.8', undefined, 'https://esm.sh/jsr/@std/path@1.0.8'],
    ['jsr:@std/path@1/posix', undefined, 'https://esm.sh/jsr/@std/path@1/posix'],
    ['https://example.com/a/../b.js', undefined, 'https://example.com/b.js'],
    ['HTTP://Example.COM:80/x.js', undefined, 'http://example.com/x.js'],
    ['https://esm.sh/react@18?target=es2022', undefined, 'https://esm.sh/react@18?target=es2022'],
    ['./dep.js', ESM_MODULE, 'https://esm.sh/pkg@1.0.0/es2022/lib/dep.js'],
    ['../up.js', ESM_MODULE, 'https://esm.sh/pkg@1.0.0/es2022/up.js'],
    ['/react@18.2.0/es2022/react.mjs', ESM_MODULE, 'https://esm.sh/react@18.2.0/es2022/react.mjs'],
    ['//other.example/x.js', ESM_MODULE, 'https://other.example/x.js'],
    ['lodash', undefined, 'https://esm.sh/lodash'],
    ['lodash@4', ESM_MODULE, 'https://esm.sh/lodash@4'],
    ['react-dom/client', ESM_MODULE, 'https://esm.sh/react-dom/client'],
    ['@scope/pkg', ESM_MODULE, 'https://esm.sh/@scope/pkg'],
  ])('%s (parent %s) → %s', (specifier, parent, expected) => {
    expect(resolveModuleSpecifier(specifier, parent, CDN)).toBe(expected);
  });

  it.each([
    ['', undefined, /empty/],
    ['   ', undefined, /empty/],
    ['x'.repeat(2049), undefined, /longer than 2048/],
    ['file:///etc/passwd', undefined, /file system/],
    ['data:text/javascript,export default 1', undefined, /data: scheme is not supported.*npm:/],
    ['node:fs', undefined, /built-in.*npm:/],
    ['javascript:alert(1)', undefined, /javascript: scheme is not supported/],
    ['blob:https://example.com/1', undefined, /blob: scheme/],
    ['ftp://example.com/x.js', undefined, /ftp: scheme/],
    ['https://user:pw@example.com/x.js', undefined, /credentials/],
    ['https://', undefined, /not a valid URL/],
    ['./x.js', undefined, /only work inside a module/],
    ['/x.js', undefined, /only work inside a module/],
    ['./x.js', 'file:///tmp/main.js', /only work inside a module/],
    ['//user:pw@example.com/x.js', ESM_MODULE, /credentials/],
    ['http://example.com/x.js', ESM_MODULE, /plain http/],
    ['npm:', undefined, /expected npm:<name>/],
    ['npm:../etc/passwd', undefined, /expected npm:<name>/],
    ['npm:pkg@1/../../evil', undefined, /\. or \.\. segments/],
    ['npm:pkg@1/%2e%2e/evil', undefined, /expected npm:<name>/],
    ['npm:pkg@1?dev', undefined, /queries and fragments/],
    ['npm:pkg name', undefined, /whitespace/],
    ['jsr:std/path', undefined, /expected jsr:@<scope>\/<name>/],
    ['jsr:@std/path@1/./../../x', undefined, /\. or \.\. segments/],
    ['.', undefined, /expected npm:<name>/],
  ])('rejects %j (parent %s)', (specifier, parent, message) => {
    const err = errorOf(() => resolveModuleSpecifier(specifier, parent, CDN));
    expect(isMcpv8Error(err, 'MCPV8_ERR_MODULE_SPECIFIER_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/^cannot import "/);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message.length).toBeLessThan(600);
  });

  it('appends packages to a CDN base with a path, whatever its trailing slashes', () => {
    expect(resolveModuleSpecifier('npm:a@1', undefined, 'http://127.0.0.1:8080/cdn//')).toBe(
      'http://127.0.0.1:8080/cdn/a@1',
    );
    expect(resolveModuleSpecifier('jsr:@s/p@1', undefined, 'http://127.0.0.1:8080/cdn')).toBe(
      'http://127.0.0.1:8080/cdn/jsr/@s/p@1',
    );
    expect(() => resolveModuleSpecifier('npm:a@1/../../x', undefined, 'http://127.0.0.1/cdn/')).toThrow(
      /segments/,
    );
  });

  it.each([
    'ftp://cdn.example',
    'not a url',
    'https://u:p@cdn.example',
    'https://cdn.example/?q=1',
    'file:///x',
  ])('rejects the CDN base %s as configuration', (cdnBase) => {
    const err = errorOf(() => resolveModuleSpecifier('npm:a@1', undefined, cdnBase));
    expect(isMcpv8Error(err, 'MCPV8_ERR_CONFIG_INVALID')).toBe(true);
  });

  it('normalises the CDN base', () => {
    expect(normalizeCdnBase('https://ESM.sh/')).toBe('https://esm.sh');
    expect(normalizeCdnBase('https://esm.sh')).toBe('https://esm.sh');
  });
});
