// The controller runtime against a real kube-apiserver: informers see creates, updates and deletes
// (also across a cut connection, through a TCP proxy the test can sever), controllers converge
// each key level-triggered, and Lease leader election never has two leaders at once — on a
// release, on a leader that stops renewing, and on a leader cut off from the API server.
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { crdPath } from '../../scripts/generate-crds.ts';
import { CRDS, EXECUTION_PLURAL, GROUP, VERSION, type Execution } from '../../src/api/v1alpha1/index.ts';
import {
  aborted,
  configMapSource,
  Controller,
  customResourceSource,
  enqueueHandler,
  Informer,
  LeaderElector,
  Manager,
  parseKey,
  reconcilerFunc,
  withSignal,
  type LeadershipEnd,
} from '../../src/controller/runtime/index.ts';
import { applyCrdYaml } from '../harness/kube-api.ts';

const kube = inject('services').kube!;
const root = fileURLToPath(new URL('../../', import.meta.url));
const ns = `ctrl-rt-${randomBytes(3).toString('hex')}`;
const OBSERVED = 'mcpv8.dev/observed';
let kc: KubeConfig;
const proxies: Proxy[] = [];

function kubeConfig(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'it', server, caData: Buffer.from(kube.caPem).toString('base64') }],
    users: [{ name: 'admin', token: kube.adminToken }],
    contexts: [{ name: 'it', cluster: 'it', user: 'admin' }],
    currentContext: 'it',
  });
  return config;
}

interface Proxy {
  kc: KubeConfig;
  /** Down: every open connection is cut and new ones are refused, as in a network partition. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

/** A TCP proxy to the API server (TLS passes through), so a test can cut one client off. */
async function startProxy(): Promise<Proxy> {
  const target = new URL(kube.server);
  const sockets = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', drop).on('close', drop);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const proxy: Proxy = {
    kc: kubeConfig(`https://127.0.0.1:${port}`),
    setDown(value) {
      down = value;
      if (value) for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.setDown(true);
        server.close(() => resolve());
      }),
  };
  proxies.push(proxy);
  return proxy;
}

async function waitFor(
  what: string,
  probe: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Server-side apply of the checked-in CRD YAML; resolves with the HTTP status. */
const applyCrd = async (name: string, yamlText: string): Promise<number> =>
  (await applyCrdYaml(kube, name, yamlText)).status;

beforeAll(async () => {
  kc = kubeConfig(kube.server);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await kc.makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
});

describe('informer + controller + manager', () => {
  it('reconciles ConfigMaps level-triggered through create, update, delete and a cut watch', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const proxy = await startProxy();
    const informer = new Informer({
      kubeConfig: proxy.kc,
      source: configMapSource(proxy.kc, { namespace: ns, labelSelector: 'app=rt' }),
      resyncMs: 1000,
      restartBackoff: { baseMs: 100, maxMs: 500 },
    });
    const gone = new Set<string>();
    const reconciles = new Map<string, number>();
    const controller = new Controller({
      name: 'configmaps',
      concurrency: 2,
      reconciler: reconcilerFunc(async (key, signal) => {
        reconciles.set(key, (reconciles.get(key) ?? 0) + 1);
        const cm = informer.get(key);
        if (!cm) return void gone.add(key);
        const want = cm.data?.value ?? '';
        if (cm.metadata?.annotations?.[OBSERVED] === want) return;
        // Written against the cached resourceVersion: a stale cache gets a 409, i.e. a recompute.
        const { namespace, name } = parseKey(key);
        const annotations = { ...cm.metadata?.annotations, [OBSERVED]: want };
        await core.replaceNamespacedConfigMap(
          { namespace, name, body: { ...cm, metadata: { ...cm.metadata, annotations } } },
          withSignal(signal),
        );
      }),
    });
    informer.addEventHandler(enqueueHandler(controller));
    const manager = new Manager({
      informers: [informer],
      controllers: [controller],
      leaderElector: new LeaderElector({
        client: kc.makeApiClient(CoordinationV1Api),
        namespace: ns,
        name: 'configmap-controller',
        identity: 'manager-1',
      }),
      healthPort: 0,
      healthHost: '127.0.0.1',
    });
    const observed = async (name: string) =>
      (await core.readNamespacedConfigMap({ namespace: ns, name })).metadata?.annotations?.[OBSERVED];
    const create = (name: string, value: string) =>
      core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name, labels: { app: 'rt' } }, data: { value } },
      });
    const setValue = async (name: string, value: string) => {
      const cm = await core.readNamespacedConfigMap({ namespace: ns, name });
      await core.replaceNamespacedConfigMap({ namespace: ns, name, body: { ...cm, data: { value } } });
    };

    // Listed at start (the initial list), then created (the watch).
    await create('listed', 'l1');
    const stop = new AbortController();
    const running = manager.start(stop.signal);
    await waitFor('manager running', () => manager.state() === 'running');
    const probe = (path: string) =>
      fetch(`http://127.0.0.1:${manager.healthPort()}${path}`).then((r) => r.status);
    expect(await probe('/readyz')).toBe(200);
    expect(await probe('/healthz')).toBe(200);
    await waitFor('listed annotated', async () => (await observed('listed')) === 'l1');
    await create('a', 'v1');
    await waitFor('a annotated v1', async () => (await observed('a')) === 'v1');
    await setValue('a', 'v2');
    await waitFor('a annotated v2', async () => (await observed('a')) === 'v2');

    // Level-triggered: an annotation changed behind the controller's back is put right.
    const a = await core.readNamespacedConfigMap({ namespace: ns, name: 'a' });
    a.metadata!.annotations![OBSERVED] = 'tampered';
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'a', body: a });
    await waitFor('a repaired', async () => (await observed('a')) === 'v2');

    // Cut the informer off; change things meanwhile, including a delete it must not miss.
    await create('doomed', 'd1');
    await waitFor('doomed annotated', async () => (await observed('doomed')) === 'd1');
    proxy.setDown(true);
    await sleep(300);
    await create('b', 'b1');
    await setValue('a', 'v3');
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'doomed' });
    await sleep(700);
    proxy.setDown(false);
    await waitFor('b annotated after the restart', async () => (await observed('b')) === 'b1');
    await waitFor('a annotated v3 after the restart', async () => (await observed('a')) === 'v3');
    await waitFor('doomed seen deleted', () => gone.has(`${ns}/doomed`));
    expect(informer.restarts).toBeGreaterThanOrEqual(1);

    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'a' });
    await waitFor('a seen deleted', () => gone.has(`${ns}/a`));
    expect(informer.get(`${ns}/a`)).toBeUndefined();
    expect(
      informer
        .list(ns)
        .map((cm) => cm.metadata?.name)
        .sort(),
    ).toEqual(['b', 'listed']);
    // Typed models in the cache whichever path an object came by.
    expect(informer.list(ns).every((cm) => cm.metadata?.creationTimestamp instanceof Date)).toBe(true);

    // Resync re-delivers unchanged objects.
    const before = reconciles.get(`${ns}/listed`) ?? 0;
    await waitFor('a resync', () => (reconciles.get(`${ns}/listed`) ?? 0) > before, 5000);

    stop.abort();
    await running;
    expect(manager.state()).toBe('stopped');
    const lease = await kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace: ns, name: 'configmap-controller' });
    expect(lease.spec?.holderIdentity).toBeUndefined();
  });

  it('informs on Executions (a custom resource) and writes their status', async () => {
    for (const crd of CRDS) {
      expect(await applyCrd(crd.metadata.name, readFileSync(join(root, crdPath(crd)), 'utf8'))).toBeLessThan(
        300,
      );
    }
    const co = kc.makeApiClient(CustomObjectsApi);
    const ref = { group: GROUP, version: VERSION, namespace: ns, plural: EXECUTION_PLURAL };
    const create = (name: string) =>
      co.createNamespacedCustomObject({
        ...ref,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'Execution',
          metadata: { name },
          spec: { code: '1 + 1' },
        },
      });
    await waitFor(
      'executions served',
      () =>
        create('listed').then(
          () => true,
          () => false,
        ),
      30_000,
    );

    const informer = new Informer<Execution>({ kubeConfig: kc, source: customResourceSource(kc, ref) });
    const controller = new Controller({
      name: 'executions',
      reconciler: reconcilerFunc(async (key, signal) => {
        const execution = informer.get(key);
        if (!execution || execution.status?.phase) return;
        await co.patchNamespacedCustomObjectStatus(
          { ...ref, name: parseKey(key).name, body: { status: { phase: 'Pending' } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch, withSignal(signal)),
        );
      }),
    });
    informer.addEventHandler(enqueueHandler(controller));
    const stop = new AbortController();
    const running = new Manager({ informers: [informer], controllers: [controller] }).start(stop.signal);
    await create('watched');
    const phase = async (name: string) =>
      ((await co.getNamespacedCustomObject({ ...ref, name })) as Execution).status?.phase;
    await waitFor(
      'both Pending',
      async () => (await phase('listed')) === 'Pending' && (await phase('watched')) === 'Pending',
    );
    await waitFor('cache updated', () => informer.list(ns).every((e) => e.status?.phase === 'Pending'));
    stop.abort();
    await running;
  });
});

describe('Lease leader election', () => {
  interface Term {
    id: string;
    start: number;
    end?: number;
  }
  const LEASE_MS = 2000;
  const RETRY_MS = 200;

  /** One candidate per identity on `lease`; every term any of them leads is recorded in `terms`. */
  function election(lease: string) {
    const terms: Term[] = [];
    const candidate = (id: string, opts: { kc?: KubeConfig; releaseOnCancel?: boolean } = {}) => {
      const stop = new AbortController();
      const elector = new LeaderElector({
        client: (opts.kc ?? kc).makeApiClient(CoordinationV1Api),
        namespace: ns,
        name: lease,
        identity: id,
        leaseDurationMs: LEASE_MS,
        renewDeadlineMs: 1500,
        retryPeriodMs: RETRY_MS,
        releaseOnCancel: opts.releaseOnCancel,
      });
      const done: Promise<LeadershipEnd> = elector.run(stop.signal, {
        onStartedLeading: async (signal) => {
          const term: Term = { id, start: performance.now() };
          terms.push(term);
          await aborted(signal);
          term.end = performance.now();
        },
      });
      return { id, elector, stop, done };
    };
    /** Terms never overlap: each starts after the previous one ended. */
    const assertNoOverlap = () => {
      const sorted = [...terms].sort((x, y) => x.start - y.start);
      for (let i = 1; i < sorted.length; i++) {
        expect(sorted[i - 1]!.end, `${sorted[i - 1]!.id} still leading`).toBeDefined();
        expect(sorted[i]!.start).toBeGreaterThanOrEqual(sorted[i - 1]!.end!);
      }
    };
    const holder = async () =>
      (await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: ns, name: lease })).spec
        ?.holderIdentity;
    return { terms, candidate, assertNoOverlap, holder };
  }

  it('elects exactly one leader, and a released Lease passes to the other within a second', async () => {
    const { terms, candidate, assertNoOverlap, holder } = election('release');
    const all = [candidate('a'), candidate('b')];
    await waitFor('a leader', () => terms.length === 1);
    // Well past a lease duration: still one leader, and the same one.
    for (let t = 0; t < 25; t++) {
      expect(all.filter((c) => c.elector.isLeader())).toHaveLength(1);
      await sleep(100);
    }
    expect(terms).toHaveLength(1);
    const leader = all.find((c) => c.id === terms[0]!.id)!;
    const other = all.find((c) => c !== leader)!;
    expect(await holder()).toBe(leader.id);
    expect(other.elector.leader()).toBe(leader.id);

    leader.stop.abort();
    expect(await leader.done).toBe('cancelled');
    await waitFor('the other leads', () => terms.length === 2, 3000);
    expect(terms[1]!.id).toBe(other.id);
    expect(terms[1]!.start - terms[0]!.end!).toBeLessThan(1000);
    expect(await holder()).toBe(other.id);
    other.stop.abort();
    await other.done;
    assertNoOverlap();
  });

  it('takes over from a leader that stops renewing without releasing, once the lease has run out', async () => {
    const { terms, candidate, assertNoOverlap, holder } = election('expire');
    const first = candidate('first', { releaseOnCancel: false });
    await waitFor('first leads', () => first.elector.isLeader());
    const second = candidate('second');
    await sleep(500);
    expect(second.elector.isLeader()).toBe(false);

    first.stop.abort();
    await first.done;
    expect(await holder()).toBe('first');
    await waitFor('second leads', () => second.elector.isLeader(), LEASE_MS + 3000);
    const gap = terms[1]!.start - terms[0]!.end!;
    // The last renewal can precede the stop by up to a retry period (plus request time).
    expect(gap).toBeGreaterThanOrEqual(LEASE_MS - RETRY_MS - 150);
    expect(gap).toBeLessThan(LEASE_MS + 1500);
    second.stop.abort();
    await second.done;
    assertNoOverlap();
  });

  it('stops a leader cut off from the API server before another takes over', async () => {
    const { terms, candidate, assertNoOverlap, holder } = election('partition');
    const proxy = await startProxy();
    const cut = candidate('cut-off', { kc: proxy.kc });
    await waitFor('cut-off leads', () => cut.elector.isLeader());
    const healthy = candidate('healthy');
    await sleep(500);

    const cutAt = performance.now();
    proxy.setDown(true);
    expect(await cut.done).toBe('lost');
    // Within the renew deadline of its last successful renewal, which was at most a retry ago.
    expect(terms[0]!.end! - cutAt).toBeLessThan(1500 + RETRY_MS + 100);
    await waitFor('healthy leads', () => healthy.elector.isLeader(), LEASE_MS + 3000);
    expect(await holder()).toBe('healthy');
    proxy.setDown(false);
    healthy.stop.abort();
    await healthy.done;
    assertNoOverlap();
    expect(terms.map((t) => t.id)).toEqual(['cut-off', 'healthy']);
  });
});
