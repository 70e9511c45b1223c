import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../src/cluster/byte-lru.ts';

describe('ByteLru', () => {
  it('drops the least recently used entries once the bound is exceeded', () => {
    const lru = new ByteLru(10);
    expect(lru.add('a', 4)).toEqual([]);
    expect(lru.add('b', 4)).toEqual([]);
    expect(lru.touch('a')).toBe(true);
    expect(lru.add('c', 4)).toEqual(['b']);
    expect(lru.bytes).toBe(8);
    expect(lru.add('d', 11)).toEqual(['a', 'c', 'd']);
    expect(lru.bytes).toBe(0);
  });

  it('counts an entry once when added again', () => {
    const lru = new ByteLru(10);
    lru.add('a', 4);
    lru.add('a', 6);
    expect(lru.bytes).toBe(6);
    lru.delete('a');
    lru.delete('a');
    expect([lru.bytes, lru.has('a'), lru.touch('a')]).toEqual([0, false, false]);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new ByteLru(0)).toThrow(RangeError);
    expect(() => new ByteLru(1.5)).toThrow(RangeError);
  });
});
