/**
 * A local HTTP server standing in for the module CDN (there is no internet here): legal but
 * awkward module graphs (self and mutual imports, cycles with top-level await, wide and deep
 * graphs) and hostile answers (redirect loops, a 20 MB module, a module that never answers, an
 * endless body, a wrong content type). Anything else is a 404.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Answer = string | ((res: ServerResponse) => void);

const WIDE = 1000;
const DEEP = 300;

function modules(): Map<string, Answer> {
  const m = new Map<string, Answer>([
    ['/self.js', 'import * as me from "./self.js"; export const a = 1; export const b = () => me.a;'],
    ['/a.js', 'import { b } from "./b.js"; export const a = "a"; export const both = () => a + b;'],
    ['/b.js', 'import { a } from "./a.js"; export const b = "b"; export const viaA = () => a;'],
    ['/t1.js', 'import { t2 } from "./t2.js"; export const t1 = () => "t1>" + t2();'],
    ['/t2.js', 'import { t3 } from "./t3.js"; export const t2 = () => "t2>" + t3();'],
    ['/t3.js', 'import { t1 } from "./t1.js"; export const t3 = () => "t3>" + typeof t1;'],
    ['/tdz-a.js', 'import { b } from "./tdz-b.js"; export const a = b + 1;'],
    ['/tdz-b.js', 'import { a } from "./tdz-a.js"; export const b = a + 1;'],
    ['/tla-a.js', 'import "./tla-b.js"; await 0; export const a = 1;'],
    ['/tla-b.js', 'import { a } from "./tla-a.js"; export const b = () => a;'],
    ['/dyn-self.js', 'const me = await import("./dyn-self.js"); export const y = 2; export const x = me.y;'],
    ['/star-a.js', 'export * from "./star-b.js"; export const fromA = 1;'],
    ['/star-b.js', 'export * from "./star-a.js"; export const fromB = 2;'],
    ['/throws.js', 'throw new Error("module init failed");'],
    ['/spin.js', 'for (;;);'],
    ['/leak-probe.js', 'export const where = [import.meta.url, typeof process, typeof require];'],
    [
      '/wide.js',
      Array.from({ length: WIDE }, (_, i) => `import "./leaf-${i}.js";`).join('\n') +
        '\nexport const n = globalThis.leaves;',
    ],
    ['/chain-0.js', 'import { depth } from "./chain-1.js"; export const top = depth;'],
    [
      '/huge.js',
      (res) => res.writeHead(200, { 'content-type': 'application/javascript' }).end('//' + 'x'.repeat(20e6)),
    ],
    ['/loop', (res) => res.writeHead(302, { location: '/loop' }).end()],
    ['/png.js', (res) => res.writeHead(200, { 'content-type': 'image/png' }).end('\x89PNG\r\n')],
    ['/slow.js', () => {}],
    [
      '/endless.js',
      (res) => {
        res.writeHead(200, { 'content-type': 'application/javascript' });
        const chunk = '// ' + 'y'.repeat(64 * 1024) + '\n';
        const timer = setInterval(() => res.write(chunk), 5);
        res.on('close', () => clearInterval(timer));
      },
    ],
  ]);
  for (let i = 0; i < WIDE; i++) m.set(`/leaf-${i}.js`, 'globalThis.leaves = (globalThis.leaves ?? 0) + 1;');
  for (let i = 1; i < DEEP; i++)
    m.set(`/chain-${i}.js`, `import { depth as d } from "./chain-${i + 1}.js"; export const depth = d + 1;`);
  m.set(`/chain-${DEEP}.js`, 'export const depth = 0;');
  return m;
}

export class ModuleServer {
  readonly #server: Server;
  readonly #open = new Set<ServerResponse>();
  url = '';

  constructor() {
    const files = modules();
    this.#server = createServer((req, res) => {
      this.#open.add(res);
      res.on('close', () => this.#open.delete(res));
      const answer = files.get((req.url ?? '').split('?')[0]!);
      if (answer === undefined) return res.writeHead(404).end('not found');
      if (typeof answer === 'function') return answer(res);
      res.writeHead(200, { 'content-type': 'application/javascript' }).end(answer);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.#open) res.destroy();
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }
}
