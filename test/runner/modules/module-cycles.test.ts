// ES module graphs of every legal shape — self-imports, mutual and longer cycles, cycles reached
// through redirects or different spellings, diamonds, top-level await inside a cycle, bindings
// read before they exist — link and evaluate as V8 does, in a real sandbox importing from a
// local HTTP server. Graphs past the per-context bounds fail the cell with a clear code.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeapNode, type HeapId, type HeapNode } from '../../../src/core/index.ts';
import { executeCell } from '../../../src/runner/execute-cell.ts';
import { replayChain, sortModules } from '../../../src/runner/heap-replay.ts';
import {
  MAX_CONCURRENT_MODULE_DOWNLOADS,
  MAX_IMPORT_DEPTH,
  MAX_MODULES_PER_CONTEXT,
} from '../../../src/runner/modules/module-graph.ts';
import { ModuleSourceLoader } from '../../../src/runner/modules/module-source-loader.ts';
import { LiveRecorder } from '../../../src/runner/recorder.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../../src/runner/runner-process.ts';
import { Sandbox } from '../../../src/runner/sandbox/sandbox.ts';

/** Counts evaluations per module in the sandbox's global, so "evaluated once" can be checked. */
const ran = (name: string) => `(globalThis.ran ??= []).push(${JSON.stringify(name)});`;

const files: Record<string, string | { status: number; location: string }> = {
  '/self.js': `import * as me from './self.js'; ${ran('self')}
export const x = 1; export const keys = () => Object.keys(me);`,
  '/a.js': `import { b, fromB } from './b.js'; ${ran('a')}
export const a = 'A'; export const both = () => a + b + fromB();`,
  '/b.js': `import { a } from './a.js'; ${ran('b')}
export const b = 'B'; export const fromB = () => a;`,
  '/c1.js': `import './c2.js'; ${ran('c1')} export const one = 1;`,
  '/c2.js': `import './c3.js'; ${ran('c2')}`,
  '/c3.js': `import { one } from './c1.js'; ${ran('c3')} export const late = () => one;`,
  '/r1.js': `import { r2 } from '/moved-r2'; ${ran('r1')} export const r1 = () => r2;`,
  '/moved-r2': { status: 302, location: '/r2.js' },
  '/r2.js': `import { r1 } from './r1.js'; ${ran('r2')} export const r2 = 'r2'; export const back = () => typeof r1;`,
  '/dir/s1.js': `import { s2 } from '../s2.js'; ${ran('s1')} export const s1 = 's1'; export const pair = () => s1 + s2;`,
  '/s2.js': `import { s1 } from './dir/s1.js'; import { s1 as again } from '/dir/../dir/s1.js';
import { s1 as full } from 'CDN/dir/s1.js'; ${ran('s2')} export const s2 = 's2';
export const same = () => s1 === again && again === full;`,
  '/top.js': `import './left.js'; import './right.js'; ${ran('top')} export const top = 'top';`,
  '/left.js': `import './bottom.js'; ${ran('left')}`,
  '/right.js': `import './bottom.js'; ${ran('right')}`,
  '/bottom.js': `import { top } from './top.js'; ${ran('bottom')} export const peek = () => top;`,
  '/wa.js': `import { wb, readA } from './wb.js'; ${ran('wa')}
export let wa = 'early'; await new Promise((r) => setTimeout(r, 5)); wa = 'late';
export const both = () => readA() + '+' + wb;`,
  '/wb.js': `import { wa } from './wa.js'; ${ran('wb')} export const wb = 'wb'; export const readA = () => wa;`,
  '/ma.js': `import { mb } from './mb.js'; export const ma = 'ma:' + mb;`,
  '/mb.js': `import './ma.js'; export let mb = 0; await 0; mb = 2;`,
  '/ta.js': `import { tb } from './tb.js'; export const ta = tb + 1;`,
  '/tb.js': `import { ta } from './ta.js'; export const tb = ta + 1;`,
  '/la.js': `import './lb.js'; export const la = 1;`,
  '/lb.js': `import './la.js'; await new Promise((r) => setTimeout(r, 5)); throw new Error('late failure');`,
  '/ha.js': `import { hb } from './hb.js'; export const ha = () => hb;`,
  '/hb.js': `import './ha.js'; const dep = await __mcpv8.import('CDN/exports.js'); export const hb = dep.present;`,
  '/ka.js': `import './kb.js'; export const ka = 1;`,
  '/kb.js': `import './ka.js'; await __mcpv8.import('CDN/absent.js');`,
  '/link-bad.js': `import { missing } from './exports.js'; export const x = missing;`,
  '/exports.js': `export const present = 'present';`,
  '/link-bad-cycle.js': `import { missing } from './exports-cycle.js'; export const x = missing;`,
  '/exports-cycle.js': `import './link-bad-cycle.js'; export const present = 'present';`,
  '/shared-a.js': `import { s } from './shared.js'; export const sa = () => 'a' + s;`,
  '/shared-b.js': `import { s } from './shared.js'; export const sb = () => 'b' + s;`,
  '/shared.js': `import './shared-a.js'; import './shared-b.js'; ${ran('shared')} export const s = 's';`,
};

let server: Server;
let cdnBase = '';
let inFlight = 0;
let maxInFlight = 0;

function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const js = (body: string): void =>
    void res
      .writeHead(200, { 'content-type': 'application/javascript' })
      .end(body.replaceAll('CDN', cdnBase));
  // /chain<N>/<i>.js: a chain of N modules; /fan<W>/…: an index importing W leaves.
  const chain = /^\/chain(\d+)\/(\d+)\.js$/.exec(path);
  if (chain) {
    const [n, i] = [Number(chain[1]), Number(chain[2])];
    return js(i + 1 < n ? `export { end } from './${i + 1}.js';` : `export const end = ${i};`);
  }
  const fan = /^\/fan(\d+)\/(index|\d+)\.js$/.exec(path);
  if (fan) {
    const width = Number(fan[1]);
    if (fan[2] === 'index') {
      const lines = Array.from({ length: width }, (_, i) => `import { v as v${i} } from './${i}.js';`);
      return js(
        `${lines.join('\n')}\nexport const sum = ${Array.from({ length: width }, (_, i) => `v${i}`).join('+')};`,
      );
    }
    // Leaves answer on the next turn, so concurrent downloads overlap and can be counted.
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    setImmediate(() => {
      inFlight--;
      js(`export const v = ${fan[2]};`);
    });
    return;
  }
  const f = files[path];
  if (f === undefined) return void res.writeHead(404).end('not found');
  if (typeof f === 'string') return js(f);
  res.writeHead(f.status, { location: f.location }).end();
}

const sandboxes: Sandbox[] = [];
let loader: ModuleSourceLoader;

beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cdnBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  loader = new ModuleSourceLoader({ cdnBase });
});
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

async function sandbox(): Promise<Sandbox> {
  const { wasmModules: _none, ...defaults } = DEFAULT_RUNNER_OPTIONS;
  const s = await Sandbox.create({ ...defaults, heapMb: 32 });
  sandboxes.push(s);
  return s;
}

function run(s: Sandbox, code: string, timeoutMs = 20_000) {
  return executeCell(
    { code: code.replaceAll('CDN', cdnBase), language: 'javascript', timeoutMs },
    {
      sandbox: s,
      recorder: new LiveRecorder(),
      signal: new AbortController().signal,
      maxOutputBytes: 1 << 20,
      onOutput: () => {},
      modules: { loader, cdnBase },
    },
  );
}

async function runOne(code: string) {
  return run(await sandbox(), code);
}

describe('module cycles link and evaluate as in V8', () => {
  it.each([
    [
      'a module importing itself',
      'import { x, keys } from "CDN/self.js"; [x, keys(), globalThis.ran]',
      [1, ['keys', 'x'], ['self']],
    ],
    [
      'two modules importing each other',
      'import { both } from "CDN/a.js"; [both(), globalThis.ran]',
      ['ABA', ['b', 'a']],
    ],
    [
      'the other side of a mutual import first',
      'import { fromB } from "CDN/b.js"; [fromB(), globalThis.ran]',
      ['A', ['a', 'b']],
    ],
    [
      'a three-module cycle',
      'import { late } from "CDN/c3.js"; [late(), globalThis.ran]',
      [1, ['c2', 'c1', 'c3']],
    ],
    [
      'a cycle closed through a redirect',
      'import { r1 } from "CDN/r1.js"; import { back } from "CDN/r2.js"; [r1(), back(), globalThis.ran]',
      ['r2', 'function', ['r2', 'r1']],
    ],
    [
      'a cycle reached through different spellings of the same URL',
      'import { pair } from "CDN/dir/s1.js"; import { same } from "CDN/s2.js"; [pair(), same(), globalThis.ran]',
      ['s1s2', true, ['s2', 's1']],
    ],
    [
      'a diamond closed into a cycle',
      'import { peek } from "CDN/bottom.js"; import { top } from "CDN/top.js"; [peek(), top, globalThis.ran]',
      ['top', 'top', ['left', 'right', 'top', 'bottom']],
    ],
    [
      'a cycle whose module awaits a timer at top level (the import waits for it)',
      'const m = await import("CDN/wa.js"); [m.wa, m.both(), globalThis.ran]',
      ['late', 'late+wb', ['wb', 'wa']],
    ],
    [
      'a cycle whose module awaits a microtask at top level',
      'import { ma } from "CDN/ma.js"; import { mb } from "CDN/mb.js"; [ma, mb]',
      ['ma:2', 2],
    ],
  ])('%s', async (_name, code, expected) => {
    const outcome = await runOne(code);
    expect(outcome.error).toBeUndefined();
    expect(outcome).toMatchObject({ status: 'completed' });
    expect(JSON.parse(outcome.result!)).toEqual(expected);
  });

  it('evaluates each module once per context, across cells and concurrent imports', async () => {
    const s = await sandbox();
    const first = await run(
      s,
      'const [x, y] = await Promise.all([import("CDN/shared-a.js"), import("CDN/shared-b.js")]); [x.sa(), y.sb()]',
    );
    expect(first.status, first.error?.message).toBe('completed');
    expect(JSON.parse(first.result!)).toEqual(['as', 'bs']);
    const again = await run(
      s,
      'import { s } from "CDN/shared.js"; import { both } from "CDN/a.js"; import { both as b2 } from "CDN/a.js"; [s, both(), globalThis.ran]',
    );
    expect(JSON.parse(again.result!)).toEqual(['s', 'ABA', ['shared', 'b', 'a']]);
  });

  it('fails the cell with the ReferenceError of a binding read before initialisation, every time', async () => {
    const s = await sandbox();
    for (const root of ['ta', 'ta', 'tb']) {
      const outcome = await run(s, `import { ${root} } from "CDN/${root}.js"; ${root}`);
      expect(outcome.status).toBe('failed');
      expect(outcome.error).toMatchObject({ reason: 'ModuleError', name: 'ModuleError' });
      expect(outcome.error?.message).toMatch(/ReferenceError: Cannot access 't[ab]' before initialization/);
    }
  });

  it('waits for a module in a cycle that awaits a host call at top level', async () => {
    const outcome = await runOne('import { ha } from "CDN/ha.js"; ha()');
    expect(outcome).toMatchObject({ status: 'completed', result: '"present"' });
  });

  it('fails the cell when a module in a cycle rejects after awaiting a host call', async () => {
    const outcome = await runOne('import "CDN/ka.js"; 1');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ reason: 'ModuleError', name: 'ModuleError' });
    expect(outcome.error?.message).toMatch(
      /ka\.js: evaluating it threw: Error: cannot import .*absent\.js.* 404/,
    );
  });

  it('fails the cell when a module in a cycle rejects after awaiting a timer', async () => {
    const outcome = await runOne('import "CDN/la.js"; 1');
    expect(outcome.status).toBe('failed');
    // The rejection surfaces in the timer's turn, where the sandbox takes it as uncaught.
    expect(['ModuleError', 'Error']).toContain(outcome.error?.reason);
    expect(outcome.error?.message).toMatch(/late failure/);
  });

  it('reports a link error clearly and can still import the modules it touched', async () => {
    const s = await sandbox();
    for (const root of ['link-bad', 'link-bad-cycle', 'exports-cycle']) {
      const bad = await run(s, `import "CDN/${root}.js"`);
      expect(bad.error).toMatchObject({ reason: 'ModuleError' });
      expect(bad.error?.message).toMatch(/does not provide an export named 'missing'/);
    }
    const good = await run(s, 'import { present } from "CDN/exports.js"; present');
    expect(good).toMatchObject({ status: 'completed', result: '"present"' });
    const other = await run(s, 'import { both } from "CDN/a.js"; both()');
    expect(other).toMatchObject({ status: 'completed', result: '"ABA"' });
  });
});

describe('module graph bounds', () => {
  const code = (spec: string, read: string) =>
    `let r; try { const m = await import("CDN/${spec}"); r = ${read} } catch (e) { r = [e.name, e.code, e.message] } r`;

  it(`loads a chain of ${MAX_IMPORT_DEPTH} modules`, async () => {
    const outcome = await runOne(code(`chain${MAX_IMPORT_DEPTH}/0.js`, 'm.end'));
    expect(outcome).toMatchObject({ status: 'completed', result: String(MAX_IMPORT_DEPTH - 1) });
  });

  it('refuses a deeper chain with MCPV8_ERR_MODULE_GRAPH_LIMIT', async () => {
    const outcome = await runOne(code('chain500/0.js', 'm.end'));
    const [name, errorCode, message] = JSON.parse(outcome.result!) as string[];
    expect([name, errorCode]).toEqual(['ModuleError', 'MCPV8_ERR_MODULE_GRAPH_LIMIT']);
    expect(message).toMatch(`deeper than ${MAX_IMPORT_DEPTH} modules`);
  });

  it('refuses a fan-out past the modules a context may load, downloading a bounded number at once', async () => {
    maxInFlight = 0;
    const outcome = await runOne(code(`fan${MAX_MODULES_PER_CONTEXT + 10}/index.js`, 'm.sum'));
    const [name, errorCode, message] = JSON.parse(outcome.result!) as string[];
    expect([name, errorCode]).toEqual(['ModuleError', 'MCPV8_ERR_MODULE_GRAPH_LIMIT']);
    expect(message).toMatch(`already loaded ${MAX_MODULES_PER_CONTEXT} modules`);
    expect(maxInFlight).toBeLessThanOrEqual(MAX_CONCURRENT_MODULE_DOWNLOADS);
  });

  it('loads a wide fan-out within the bound', async () => {
    maxInFlight = 0;
    const outcome = await runOne(code('fan200/index.js', 'm.sum'));
    expect(outcome).toMatchObject({ status: 'completed', result: String((199 * 200) / 2) });
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(MAX_CONCURRENT_MODULE_DOWNLOADS);
  });

  it('fails an uncaught graph-limit import as the cell itself, with reason ModuleError', async () => {
    const outcome = await runOne('import { end } from "CDN/chain500/0.js"; end');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ reason: 'ModuleError', name: 'ModuleError' });
  });
});

describe('replaying a session that imported a cycle', () => {
  it('rebuilds the same state from the heap chain', async () => {
    const live = await sandbox();
    const cells = [
      'import { both } from "CDN/a.js"; import { wa } from "CDN/wa.js"; var seen = [both(), wa];',
      'import { late } from "CDN/c3.js"; seen.push(late(), globalThis.ran.join());',
    ];
    const chain: Array<{ id: HeapId; node: HeapNode }> = [];
    for (const cell of cells) {
      const recorder = new LiveRecorder();
      const code = cell.replaceAll('CDN', cdnBase);
      const outcome = await executeCell(
        { code, language: 'javascript', timeoutMs: 20_000 },
        {
          sandbox: live,
          recorder,
          signal: new AbortController().signal,
          maxOutputBytes: 1 << 20,
          onOutput: () => {},
          modules: { loader, cdnBase },
        },
      );
      expect(outcome.status, outcome.error?.message).toBe('completed');
      const node: HeapNode = {
        format: 1,
        parent: chain.at(-1)?.id ?? null,
        cell: { code, language: 'javascript' },
        journal: recorder.entries,
        modules: sortModules(live.drainLoadedModules()),
      };
      chain.push({ id: encodeHeapNode(node).id, node });
    }
    expect(chain[0]!.node.modules.map((m) => new URL(m.url).pathname)).toEqual([
      '/a.js',
      '/b.js',
      '/wa.js',
      '/wb.js',
    ]);
    const probe = 'JSON.stringify(seen)';
    const expected = (await run(live, probe)).result;
    expect(JSON.parse(JSON.parse(expected!) as string)).toEqual(['ABA', 'late', 1, 'b,a,wb,wa,c2,c1,c3']);

    const fresh = await sandbox();
    const failure = await replayChain(fresh, chain, {
      signal: new AbortController().signal,
      deadline: Date.now() + 20_000,
      modules: { loader, cdnBase },
    });
    expect(failure).toBeUndefined();
    expect((await run(fresh, probe)).result).toBe(expected);
  });
});
