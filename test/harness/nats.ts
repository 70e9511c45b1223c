/** A real nats-server with JetStream, file storage in the run directory. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinaries } from './binaries.ts';
import { freePort } from './free-port.ts';
import { httpOk } from './http-probe.ts';
import { ServiceProcess } from './service-process.ts';

export interface NatsEndpoint {
  /** Client URL, `nats://127.0.0.1:<port>`. */
  url: string;
  /** Monitoring URL (`/healthz`, `/jsz`). */
  monitorUrl: string;
  version: string;
}

/** Starts nats-server on `host` (default loopback; the real node's pods need the bridge address). */
export async function startNats(
  runDir: string,
  host = '127.0.0.1',
): Promise<{ endpoint: NatsEndpoint; processes: ServiceProcess[] }> {
  const { NATS_SERVER } = await requireBinaries('nats', ['NATS_SERVER']);
  const [port, monitorPort] = [await freePort(), await freePort()];
  const storeDir = join(runDir, 'nats');
  mkdirSync(storeDir, { recursive: true });
  const proc = ServiceProcess.start({
    name: 'nats',
    command: NATS_SERVER,
    args: ['-a', host, '-p', String(port), '-m', String(monitorPort), '-js', '-sd', storeDir],
    logFile: join(runDir, 'nats.log'),
  });
  const monitorUrl = `http://${host}:${monitorPort}`;
  try {
    await proc.waitReady(() => httpOk(`${monitorUrl}/healthz?js-enabled-only=true`), 15_000);
    const varz = (await (await fetch(`${monitorUrl}/varz`)).json()) as { version: string };
    return {
      endpoint: { url: `nats://${host}:${port}`, monitorUrl, version: varz.version },
      processes: [proc],
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
