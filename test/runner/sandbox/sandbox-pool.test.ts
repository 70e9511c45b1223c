import { afterEach, describe, expect, it } from 'vitest';
import type { ExecutionOutcome } from '../../../src/core/index.ts';
import { executeCell } from '../../../src/runner/execute-cell.ts';
import { LiveRecorder } from '../../../src/runner/recorder.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../../src/runner/runner-process.ts';
import type { Sandbox } from '../../../src/runner/sandbox/sandbox.ts';
import { SandboxPool } from '../../../src/runner/sandbox/sandbox-pool.ts';

const { wasmModules: _none, ...sandboxDefaults } = DEFAULT_RUNNER_OPTIONS;
let pool: SandboxPool;

function openPool(cellsPerIsolate = 100): SandboxPool {
  pool = new SandboxPool({ ...sandboxDefaults, size: 1, cellsPerIsolate, maxIdleIsolates: 4 });
  return pool;
}

afterEach(() => pool?.close());

async function runIn(
  sandbox: Sandbox,
  code: string,
  timeoutMs = 5000,
): Promise<{ outcome: ExecutionOutcome; output: string[] }> {
  const output: string[] = [];
  const outcome = await executeCell(
    { code, language: 'javascript', timeoutMs },
    {
      sandbox,
      recorder: new LiveRecorder(),
      signal: new AbortController().signal,
      maxOutputBytes: 1 << 20,
      onOutput: (_level, text) => output.push(text),
    },
  );
  return { outcome, output };
}

/** Runs a stateless cell of `tenant` and gives the sandbox back; returns what ran and where. */
async function stateless(code: string, opts: { tenant?: string; heapMb?: number; timeoutMs?: number } = {}) {
  const sandbox = await pool.acquireStateless(opts.heapMb ?? 8, opts.tenant ?? 'tenant-a');
  const host = sandbox.host;
  const ran = await runIn(sandbox, code, opts.timeoutMs);
  pool.release(sandbox);
  return { ...ran, host };
}

describe('stateless cells taking turns in one isolate', () => {
  it('a later cell sees nothing an earlier cell left, although it runs in the same isolate', async () => {
    openPool();
    const first = await stateless(`
      globalThis.leaked = 'secret';
      var declared = 1;
      Object.prototype.polluted = 'yes';
      Array.prototype.push = () => -1;
      JSON.stringify = () => 'hijacked';
      console.log = () => {};
      Math.random = () => 0.5;
      'done'`);
    expect(first.outcome.result).toBe('"done"');
    const second = await stateless(`
      console.log('still mine');
      [typeof leaked, typeof declared, ({}).polluted ?? null, [].push(1), JSON.stringify({ a: 1 }),
       Math.random() === 0.5]`);
    expect(second.host).toBe(first.host);
    expect(second.outcome.status).toBe('completed');
    expect(JSON.parse(second.outcome.result!)).toEqual(['undefined', 'undefined', null, 1, '{"a":1}', false]);
    expect(second.output).toEqual(['still mine']);
  });

  it('never lets two tenants share an isolate', async () => {
    openPool();
    const a = await stateless('1', { tenant: 'tenant-a' });
    const b = await stateless('2', { tenant: 'tenant-b' });
    const a2 = await stateless('3', { tenant: 'tenant-a' });
    expect(b.host).not.toBe(a.host);
    expect(a2.host).toBe(a.host);
    expect(b.host.tenant).toBe('tenant-b');
  });

  it('never starts a session in an isolate stateless cells used', async () => {
    openPool();
    const used = await stateless('1');
    const session = await pool.acquire(8);
    expect(session.host).not.toBe(used.host);
    expect(session.host.cellsRun).toBe(0);
    pool.release(session);
  });

  it('runs cells of one tenant that overlap in separate isolates', async () => {
    openPool();
    const one = await pool.acquireStateless(8, 'tenant-a');
    const two = await pool.acquireStateless(8, 'tenant-a');
    expect(two.host).not.toBe(one.host);
    const results = await Promise.all([runIn(one, '1 + 1'), runIn(two, '2 + 2')]);
    expect(results.map((r) => r.outcome.result)).toEqual(['2', '4']);
    pool.release(one);
    pool.release(two);
  });

  it('keeps output of code an earlier cell left behind out of later cells', async () => {
    // Finalizers run when a later allocation triggers a GC; within one context (a session)
    // this shows they do fire under these conditions…
    const leaveFinalizers = `
      const registry = new FinalizationRegistry(() => console.log('from an earlier cell'));
      for (let i = 0; i < 100; i++) registry.register({ junk: new Array(100) }, i);
      globalThis.keep = registry;
      'armed'`;
    const churn = `
      for (let k = 0; k < 50; k++) { const a = new Array(100000).fill(k); }
      await new Promise((resolve) => setTimeout(resolve, 200));
      'after'`;
    openPool();
    const session = await pool.acquire(16);
    await runIn(session, leaveFinalizers);
    const control = await runIn(session, churn);
    // Records of one level arrive in batches: what counts is the lines.
    expect(control.output.join('\n').split('\n')).toContain('from an earlier cell');
    pool.release(session);
    // …while a stateless cell's context is retired with it: nothing reaches the next cell.
    const first = await stateless(leaveFinalizers, { heapMb: 16 });
    const second = await stateless(churn, { heapMb: 16 });
    expect(second.host).toBe(first.host);
    expect(second.outcome.result).toBe('"after"');
    expect(second.output).toEqual([]);
  });

  it('disposes the isolate of a cell that timed out; the next cell runs in a new one', async () => {
    openPool();
    const warm = await stateless('1');
    const hung = await stateless('for (;;) {}', { timeoutMs: 200 });
    expect(hung.host).toBe(warm.host);
    expect(hung.outcome.status).toBe('timed_out');
    expect(hung.host.disposed).toBe(true);
    const next = await stateless('"alive"');
    expect(next.outcome.result).toBe('"alive"');
    expect(next.host).not.toBe(hung.host);
  });

  it('disposes the isolate of a cell that ran out of memory; the next cell runs in a new one', async () => {
    openPool();
    const oom = await stateless('const a = []; for (;;) a.push(new Array(100000).fill(1));');
    expect(oom.outcome.status).toBe('failed');
    expect(oom.outcome.error?.reason).toBe('OutOfMemory');
    const next = await stateless('"alive"');
    expect(next.outcome.result).toBe('"alive"');
    expect(next.host).not.toBe(oom.host);
  });

  it('replaces an isolate after cellsPerIsolate cells', async () => {
    openPool(3);
    const hosts = [];
    for (let i = 0; i < 4; i++) hosts.push((await stateless(String(i))).host);
    expect(hosts[1]).toBe(hosts[0]);
    expect(hosts[2]).toBe(hosts[0]);
    expect(hosts[3]).not.toBe(hosts[0]);
    expect(hosts[0]!.disposed).toBe(true);
  });

  it('gives every cell a new isolate with cellsPerIsolate 1', async () => {
    openPool(1);
    const a = await stateless('1');
    const b = await stateless('2');
    expect(b.host).not.toBe(a.host);
    expect(a.host.disposed).toBe(true);
  });

  it('does not reuse an isolate whose heap a cell left three quarters full', async () => {
    openPool();
    // ≈ 12.8 MB of doubles in a 16 MiB isolate: garbage once the context is retired, not yet collected.
    const big = 'globalThis.big = new Array(1600000).fill(1.5); big.length';
    const heavy = await stateless(big, { heapMb: 16 });
    expect(heavy.outcome.result).toBe('1600000');
    const next = await stateless(big, { heapMb: 16 });
    expect(next.outcome.result).toBe('1600000');
    expect(next.host).not.toBe(heavy.host);
    // An ordinary cell leaves the isolate to the next one.
    const light = await stateless('1', { heapMb: 16 });
    const after = await stateless('2', { heapMb: 16 });
    expect(after.host).toBe(light.host);
  });

  it.each([
    ['a WebAssembly memory', 'globalThis.m = new WebAssembly.Memory({ initial: 200 }); 1'],
    ['a resizable buffer', 'globalThis.b = new ArrayBuffer(13e6, { maxByteLength: 20e6 }); 1'],
  ])('disposes at once an isolate a cell left holding %s outside its heap', async (_name, code) => {
    openPool();
    // 12.5 MiB outside an 8 MiB heap: an idle isolate collects no garbage, so it would hold it.
    const heavy = await stateless(code);
    expect(heavy.outcome.status).toBe('completed');
    expect(heavy.host.disposed).toBe(true);
    expect((await stateless('1')).host).not.toBe(heavy.host);
  });

  it('lets one isolate serve many cells although each retired context is garbage for a while', async () => {
    openPool(1000);
    const first = await stateless('0');
    for (let i = 1; i < 60; i++) expect((await stateless(String(i))).host).toBe(first.host);
  });
});
