/**
 * A local HTTP server standing in for the internet in fetch() tests. Routes (all under any
 * prefix, so policies can allow `/public/` and deny `/private/`):
 *   …/hello            text "hello"                …/json        {"a":1,"list":[1,2]}
 *   …/echo             JSON of what was received (method, headers, body as text and base64)
 *   …/binary           the 256 byte values         …/big?n=N     N bytes of "x"
 *   …/redirect?to=URL&status=302                   …/loop        redirects to itself forever
 *   …/slow?ms=N        answers after N ms (or when the client goes away)
 *   …/reflect          text body containing every request header value
 *   …/reset            closes the connection without answering
 * Every request is recorded (method, path, headers) for assertions about what was sent.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface FetchTestServer {
  /** e.g. http://127.0.0.1:43123 */
  origin: string;
  port: number;
  received: ReceivedRequest[];
  /** Requests to /slow whose client went away before the answer. */
  abandoned: number;
  close(): Promise<void>;
}

export async function startFetchTestServer(): Promise<FetchTestServer> {
  const state = { received: [] as ReceivedRequest[], abandoned: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = Buffer.concat(chunks);
      state.received.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, body });
      const route = url.pathname.split('/').pop();
      switch (route) {
        case 'hello':
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-custom': 'yes' }).end('hello');
          return;
        case 'json':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"a":1,"list":[1,2]}');
          return;
        case 'echo':
          res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] }).end(
            JSON.stringify({
              method: req.method,
              headers: req.headers,
              body: body.toString('utf8'),
              base64: body.toString('base64'),
            }),
          );
          return;
        case 'reflect':
          res
            .writeHead(200, {
              'content-type': 'text/plain',
              'x-reflected': Object.values(req.headers).join('|'),
            })
            .end(
              Object.entries(req.headers)
                .map(([k, v]) => `${k}: ${String(v)}`)
                .join('\n'),
            );
          return;
        case 'binary':
          res
            .writeHead(200, { 'content-type': 'application/octet-stream' })
            .end(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
          return;
        case 'big':
          res
            .writeHead(200, { 'content-type': 'text/plain' })
            .end('x'.repeat(Number(url.searchParams.get('n'))));
          return;
        case 'redirect':
          res
            .writeHead(Number(url.searchParams.get('status') ?? 302), {
              location: url.searchParams.get('to') ?? '/',
            })
            .end();
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'loop':
          res.writeHead(302, { location: url.pathname }).end();
          return;
        case 'slow': {
          const t = setTimeout(
            () => res.writeHead(200).end('slow'),
            Number(url.searchParams.get('ms') ?? 5000),
          );
          res.on('close', () => {
            if (!res.writableFinished) state.abandoned++;
            clearTimeout(t);
          });
          return;
        }
        default:
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    get received() {
      return state.received;
    },
    get abandoned() {
      return state.abandoned;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
