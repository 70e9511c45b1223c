import { describe, expect, it } from 'vitest';
import { Manager, type Runnable, type SyncedRunnable } from '../../../src/controller/runtime/manager.ts';
import { aborted } from '../../../src/controller/runtime/signals.ts';

/** An informer stand-in that syncs when told to. */
function fakeInformer(): SyncedRunnable & { sync(): void; stopped: boolean } {
  let synced = false;
  const waiters: (() => void)[] = [];
  const inf = {
    stopped: false,
    sync() {
      synced = true;
      waiters.splice(0).forEach((w) => w());
    },
    hasSynced: () => synced,
    waitForSync: (signal: AbortSignal) =>
      synced
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            waiters.push(() => resolve(true));
            signal.addEventListener('abort', () => resolve(false), { once: true });
          }),
    start: async (signal: AbortSignal) => {
      await aborted(signal);
      inf.stopped = true;
    },
  };
  return inf;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Manager', () => {
  it('starts controllers only once every informer has synced, and serves the probes', async () => {
    const informers = [fakeInformer(), fakeInformer()];
    let controllerStarted = false;
    const controller: Runnable = {
      start: async (signal) => {
        controllerStarted = true;
        await aborted(signal);
      },
    };
    const manager = new Manager({
      informers,
      controllers: [controller],
      healthPort: 0,
      healthHost: '127.0.0.1',
    });
    const stop = new AbortController();
    const running = manager.start(stop.signal);
    await tick();
    const probe = (path: string) => fetch(`http://127.0.0.1:${manager.healthPort()}${path}`);
    expect(manager.state()).toBe('syncing');
    expect((await probe('/readyz')).status).toBe(503);
    expect((await probe('/healthz')).status).toBe(200);
    informers[0]!.sync();
    await tick();
    expect(controllerStarted).toBe(false);
    informers[1]!.sync();
    await tick();
    expect(controllerStarted).toBe(true);
    expect(manager.state()).toBe('running');
    const verbose = await probe('/readyz?verbose');
    expect(verbose.status).toBe(200);
    expect(await verbose.text()).toContain('[+]informer-1 ok');
    expect((await probe('/nope')).status).toBe(404);
    stop.abort();
    await running;
    expect(manager.state()).toBe('stopped');
    expect(informers.every((i) => i.stopped)).toBe(true);
  });

  it('stops everything and rejects when one part fails', async () => {
    const informer = fakeInformer();
    informer.sync();
    let otherStopped = false;
    const manager = new Manager({
      informers: [informer],
      controllers: [
        { start: () => Promise.reject(new Error('controller crashed')) },
        {
          start: async (signal) => {
            await aborted(signal);
            otherStopped = true;
          },
        },
      ],
    });
    await expect(manager.start(new AbortController().signal)).rejects.toThrow('controller crashed');
    expect(otherStopped).toBe(true);
    expect(informer.stopped).toBe(true);
    expect(manager.state()).toBe('failed');
    expect(manager.healthz().ok).toBe(false);
  });

  it('fails a term whose caches do not sync in time', async () => {
    const manager = new Manager({ informers: [fakeInformer()], syncTimeoutMs: 50 });
    await expect(manager.start(new AbortController().signal)).rejects.toThrow(/did not sync/);
  });
});
