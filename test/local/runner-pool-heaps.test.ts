// Heaps through the local runner pool: a completed stateful run is committed to the heap store,
// the next cell of the session runs on the live isolate, and a heap that is not live anywhere
// (its runner died) is rebuilt in another runner process by replaying its chain — imports and
// WebAssembly included.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionOutcome, RunRequest } from '../../src/core/index.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';

const modules: Record<string, string> = {
  '/lib@1.0.0': 'export const greeting = "hello"; export const loadedAt = Date.now();',
  '/affinity@1.0.0': 'export const word = "live";',
};
/** Downloads per module path: a runner downloads a module again only when it replays a chain. */
const downloads = new Map<string, number>();
let server: Server;
let cdnBase = '';
let dir = '';
let pool: ChildRunnerPool;
let seq = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = modules[req.url ?? ''];
    downloads.set(req.url ?? '', (downloads.get(req.url ?? '') ?? 0) + 1);
    if (body === undefined) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/javascript' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cdnBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'pool-heaps-'));
  pool = new ChildRunnerPool({
    runners: 2,
    heaps: new DirHeapStore(dir),
    runner: { cdnBase, journal: { maxEntries: 1000, maxChars: 1 << 20 } },
  });
  await pool.whenReady();
});
afterAll(async () => {
  await pool?.close();
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function run(code: string, heap?: string, opts: Partial<RunRequest> = {}): Promise<ExecutionOutcome> {
  return pool.run(
    {
      executionId: `h${++seq}`,
      code: code.replaceAll('CDN', cdnBase),
      language: 'javascript',
      heapMb: 16,
      timeoutMs: 10_000,
      persist: true,
      ...(heap && { heap }),
      ...opts,
    },
    () => {},
    new AbortController().signal,
  );
}

async function commit(code: string, heap?: string): Promise<ExecutionOutcome & { heap: string }> {
  const o = await run(code, heap);
  expect(o.status, JSON.stringify(o.error)).toBe('completed');
  expect(o.heap).toMatch(/^[0-9a-f]{64}$/);
  return o as ExecutionOutcome & { heap: string };
}

/** Kills every runner process and waits for the pool to replace them: no heap is live any more. */
async function killRunners(): Promise<number[]> {
  const old = pool.pids();
  for (const pid of old) process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 20_000;
  while (pool.pids().some((p) => old.includes(p)) || pool.stats().ready < 2) {
    if (Date.now() > deadline) throw new Error('runners were not replaced');
    await new Promise((r) => setTimeout(r, 20));
  }
  return old;
}

describe('heaps in the runner pool', () => {
  it('runs the next cell on the live isolate, needing nothing from the store', async () => {
    const a = await commit('var n = 1;');
    // Take the store away: only a live isolate can still answer.
    const elsewhere = join(dir, 'moved-away');
    rmSync(elsewhere, { recursive: true, force: true });
    const { renameSync, mkdirSync } = await import('node:fs');
    mkdirSync(elsewhere);
    const shard = a.heap.slice(0, 2);
    renameSync(join(dir, shard), join(elsewhere, shard));
    try {
      expect((await commit('++n', a.heap)).result).toBe('2');
    } finally {
      renameSync(join(elsewhere, shard), join(dir, shard));
    }
  });

  it('rebuilds a heap in another runner process when its runner died', async () => {
    const a = await commit('var started = Date.now(); var r = Math.random(); var list = [r];');
    const b = await commit('list.push(Math.random()); ({ started, list })', a.heap);
    const old = await killRunners();
    const resumed = pool.run(
      {
        executionId: `h${++seq}`,
        code: '({ started, list })',
        language: 'javascript',
        heapMb: 16,
        timeoutMs: 10_000,
        persist: true,
        heap: b.heap,
      },
      () => {},
      new AbortController().signal,
    );
    const pid = pool.pidOf(`h${seq}`);
    const o = await resumed;
    expect(old).not.toContain(pid);
    expect(o.status).toBe('completed');
    expect(o.result).toBe(b.result);
  });

  it('replays imports when the module is unchanged, and refuses when it changed', async () => {
    const a = await commit(
      'const lib = await import("CDN/lib@1.0.0"); var seenAt = lib.loadedAt; lib.greeting',
    );
    expect(a.result).toBe('"hello"');
    await killRunners();
    expect((await commit('[lib.greeting, lib.loadedAt === seenAt]', a.heap)).result).toBe('["hello",true]');

    await killRunners();
    modules['/lib@1.0.0'] = 'export const greeting = "changed"; export const loadedAt = 0;';
    const o = await run('lib.greeting', a.heap);
    expect(o.status).toBe('failed');
    expect(o.error).toMatchObject({ reason: 'HeapError' });
    expect(o.error!.message).toMatch(/lib@1\.0\.0.*changed since the heap was recorded/);
  });

  it('keeps WebAssembly instances across a replay', async () => {
    // (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
    const wasm =
      '[0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11]';
    const a = await commit(
      `const { instance } = await WebAssembly.instantiate(new Uint8Array(${wasm})); var add = instance.exports.add; add(2, 3)`,
    );
    expect(a.result).toBe('5');
    await killRunners();
    expect((await commit('add(40, 2)', a.heap)).result).toBe('42');
  });

  it('does not commit a cell whose journal outgrows its bound, and says why', async () => {
    const o = await run('let t = 0; for (let i = 0; i < 5000; i++) t = Date.now(); t > 0');
    expect(o.status).toBe('failed');
    expect(o.heap).toBeUndefined();
    expect(o.error).toMatchObject({ reason: 'HeapError' });
    expect(o.error!.message).toMatch(/journal limit/);
  });

  it('reports a heap missing from the store as a failed run, never a fresh start', async () => {
    const o = await run('1', 'f'.repeat(64));
    expect(o.status).toBe('failed');
    expect(o.error).toMatchObject({ reason: 'HeapError' });
    expect(o.error!.message).toMatch(/MCPV8_ERR_HEAP_NOT_FOUND/);
  });

  it("waits for the busy runner holding a session's heap rather than replaying it elsewhere", async () => {
    await killRunners();
    // Both commits go to the same runner (the first of two idle ones), which holds both live.
    const a = await commit('const lib = await import("CDN/affinity@1.0.0"); var n = 1; n');
    const g = await commit('var g = 1; g');
    expect(downloads.get('/affinity@1.0.0')).toBe(1);
    // The holder is busy with g's next cell while the other runner is idle…
    const busy = run('await new Promise((resolve) => setTimeout(resolve, 300)); g + 1', g.heap);
    const next = run('n + lib.word.length', a.heap);
    expect((await next).result).toBe('5');
    expect((await busy).result).toBe('2');
    // …yet a's next cell ran on the live isolate: a replay elsewhere would have downloaded again.
    expect(downloads.get('/affinity@1.0.0')).toBe(1);
  });
});
