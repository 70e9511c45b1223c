// Which memory figure a pod's runner holds itself to. Only a container's first process reads the
// cgroup mounted at /sys/fs/cgroup as its own (the real-node suite, test/pods/, shows it in a
// pod); anywhere else that mount is the host's, so the runner keeps measuring its own RSS.
import { describe, expect, it } from 'vitest';
import { cgroupWorkingSet, ownAnonymousBytes } from '../../../src/runner/pod/cgroup-memory.ts';

describe('cgroupWorkingSet', () => {
  it('is not used by a process that is not its container’s first process', () => {
    expect(cgroupWorkingSet(process.pid === 1 ? 2 : process.pid)).toBeUndefined();
  });
});

describe('ownAnonymousBytes', () => {
  it('counts what this process allocated, not the binary’s file pages that RSS adds', () => {
    const anon = ownAnonymousBytes();
    expect(anon).toBeGreaterThan(0);
    expect(anon).toBeLessThan(process.memoryUsage.rss());
  });

  it('grows with memory the process touches', () => {
    const before = ownAnonymousBytes();
    const held = Buffer.alloc(64 * 2 ** 20, 1);
    expect(ownAnonymousBytes() - before).toBeGreaterThan(32 * 2 ** 20);
    expect(held.length).toBe(64 * 2 ** 20);
  });
});
