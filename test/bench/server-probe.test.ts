import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ServerProbe } from '../../bench/load/server-probe.ts';

describe('server probe', () => {
  it('keeps the CPU of a process that exits during the window, and never reports less than zero', async () => {
    // Busy for ~300 ms of CPU, then gone (like a runner pod that exits mid-run).
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 300);']);
    const probe = new ServerProbe(() => (child.exitCode === null ? [child.pid!] : []), 50);
    probe.begin();
    await once(child, 'exit');
    await new Promise((r) => setTimeout(r, 200));
    const usage = probe.end();
    // ~0.3 CPU-s over ~0.5 s, less what fell after the last sample: clearly above zero.
    expect(usage.cpuPercent).toBeGreaterThan(10);
    expect(usage.cpuPercent).toBeLessThan(150);
  });
});
