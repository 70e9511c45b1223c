import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isMcpv8Error } from '../../../src/core/errors.ts';
import { ModuleCache } from '../../../src/runner/modules/module-cache.ts';
import type { ModuleSource } from '../../../src/runner/modules/module-source-loader.ts';

function mod(url: string, source: string): ModuleSource {
  return {
    specifier: url,
    requestedUrl: url,
    url,
    source,
    sha256: createHash('sha256').update(source).digest('hex'),
    redirected: false,
  };
}

describe('ModuleCache', () => {
  it('gets what was set and counts entries and UTF-8 bytes', () => {
    const cache = new ModuleCache();
    const a = mod('https://cdn/a', 'export default "é";');
    cache.set(a.requestedUrl, a);
    expect(cache.get('https://cdn/a')).toBe(a);
    expect(cache.get('https://cdn/b')).toBeUndefined();
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(Buffer.byteLength(a.source));
  });

  it('replacing an entry adjusts the byte count', () => {
    const cache = new ModuleCache();
    cache.set('u', mod('u', 'aaaa'));
    cache.set('u', mod('u', 'bb'));
    expect(cache.size).toBe(1);
    expect(cache.bytes).toBe(2);
    expect(cache.bySha(mod('u', 'aaaa').sha256)).toBeUndefined();
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new ModuleCache({ maxEntries: 2 });
    cache.set('a', mod('a', '1'));
    cache.set('b', mod('b', '2'));
    cache.get('a'); // a is now more recent than b
    cache.set('c', mod('c', '3'));
    expect(cache.has('a')).toBe(true);
    expect(cache.has('b')).toBe(false);
    expect(cache.has('c')).toBe(true);
    expect(cache.size).toBe(2);
  });

  it('evicts least recently used entries beyond maxBytes and never stores an oversized one', () => {
    const cache = new ModuleCache({ maxBytes: 10 });
    cache.set('a', mod('a', '1234'));
    cache.set('b', mod('b', '5678'));
    cache.set('c', mod('c', '9012'));
    expect(cache.has('a')).toBe(false);
    expect(cache.bytes).toBe(8);
    cache.set('big', mod('big', '12345678901'));
    expect(cache.has('big')).toBe(false);
    expect(cache.size).toBe(2);
  });

  it('finds a source by SHA-256, the most recently used when several URLs share it', () => {
    const cache = new ModuleCache();
    const first = mod('https://cdn/x@1', 'export const x = 1;');
    const second = { ...first, requestedUrl: 'https://other/x.js', specifier: 'https://other/x.js' };
    cache.set(first.requestedUrl, first);
    cache.set(second.requestedUrl, second);
    expect(cache.bySha(first.sha256)).toBe(second);
    cache.get(first.requestedUrl);
    expect(cache.bySha(first.sha256.toUpperCase())).toBe(first);
    cache.delete(first.requestedUrl);
    cache.delete(second.requestedUrl);
    expect(cache.bySha(first.sha256)).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it('bySha follows evictions', () => {
    const cache = new ModuleCache({ maxEntries: 1 });
    const a = mod('a', 'a');
    cache.set('a', a);
    cache.set('b', mod('b', 'b'));
    expect(cache.bySha(a.sha256)).toBeUndefined();
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('rejects bounds that are not positive integers', () => {
    for (const opts of [{ maxEntries: 0 }, { maxBytes: -1 }, { maxEntries: 1.5 }]) {
      try {
        new ModuleCache(opts);
        expect.unreachable();
      } catch (err) {
        expect(isMcpv8Error(err, 'MCPV8_ERR_CONFIG_INVALID')).toBe(true);
      }
    }
  });
});
