/**
 * A tiny node:http server for kubelet probes (`/healthz`, `/readyz`) and, when given a registry,
 * Prometheus scrapes (`/metrics`). Plain node:http rather than fastify: the controller serves
 * nothing else, and the probes must answer even while the rest of the process is busy starting.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** The result of a probe: overall, and per check for humans reading `?verbose`. */
export interface HealthReport {
  ok: boolean;
  checks: Record<string, boolean>;
}

export interface HealthServerOptions {
  port: number;
  /** Default `0.0.0.0` (the kubelet probes the pod IP). */
  host?: string;
  healthz: () => HealthReport;
  readyz: () => HealthReport;
  registry?: Registry;
}

/** A running health server; `close` stops it and drops open connections. */
export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** Starts the server; resolves once it listens. */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const probe =
      url.pathname === '/healthz' ? opts.healthz : url.pathname === '/readyz' ? opts.readyz : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (probe) {
      const report = probe();
      const body = url.searchParams.has('verbose')
        ? Object.entries(report.checks)
            .map(([name, ok]) => `[${ok ? '+' : '-'}]${name} ${ok ? 'ok' : 'failed'}\n`)
            .join('') + (report.ok ? 'ok\n' : 'failed\n')
        : report.ok
          ? 'ok'
          : 'failed';
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    } else if (url.pathname === '/metrics' && opts.registry) {
      const registry = opts.registry;
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await listen(server, opts.port, opts.host ?? '0.0.0.0');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
