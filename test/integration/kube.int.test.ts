// Proves the Kubernetes API in the suite is a real control plane: CRD schemas are enforced,
// optimistic concurrency rejects a stale resourceVersion with 409, and the controller-manager's
// garbage collector deletes an object whose owner is gone.
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, inject, it } from 'vitest';

const kube = inject('services').kube!;
const suffix = randomBytes(3).toString('hex');
const group = `smoke${suffix}.mcpv8.dev`;
let kc: KubeConfig;

beforeAll(() => {
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'it', server: kube.server, caData: Buffer.from(kube.caPem).toString('base64') }],
    users: [{ name: 'admin', token: kube.adminToken }],
    contexts: [{ name: 'it', cluster: 'it', user: 'admin' }],
    currentContext: 'it',
  });
});

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

// client-node's typed models spell the schema keyword `default` as `_default`; a plain
// `default` key is silently dropped by its serializer.
const widgetCrd = (): V1CustomResourceDefinition => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1, maximum: 10 },
                  color: { type: 'string', _default: 'blue' },
                },
              },
            },
          },
        },
      },
    ],
  },
});

describe('Kubernetes control plane (real kube-apiserver)', () => {
  it('runs a current Kubernetes', () => {
    expect(kube.version).toMatch(/^v1\.(3[4-9]|[4-9]\d)\./);
  });

  it('serves a new CRD with schema validation, defaulting and optimistic concurrency', async () => {
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: widgetCrd() });
    await waitFor(
      'CRD Established',
      async () => {
        const crd = await ext.readCustomResourceDefinition({ name: `widgets.${group}` });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
          ? true
          : undefined;
      },
      30_000,
    );

    const co = kc.makeApiClient(CustomObjectsApi);
    const ref = { group, version: 'v1alpha1', namespace: 'default', plural: 'widgets' };
    const body = (size: number, extra: object = {}) => ({
      apiVersion: `${group}/v1alpha1`,
      kind: 'Widget',
      metadata: { name: 'w1', ...extra },
      spec: { size },
    });

    expect(await statusOf(co.createNamespacedCustomObject({ ...ref, body: body(99) }))).toBe(422);

    const created = (await co.createNamespacedCustomObject({ ...ref, body: body(3) })) as {
      metadata: { resourceVersion: string };
      spec: { color?: string };
    };
    expect(created.spec.color).toBe('blue');
    const staleRv = created.metadata.resourceVersion;

    await co.replaceNamespacedCustomObject({
      ...ref,
      name: 'w1',
      body: body(4, { resourceVersion: staleRv }),
    });
    expect(
      await statusOf(
        co.replaceNamespacedCustomObject({ ...ref, name: 'w1', body: body(5, { resourceVersion: staleRv }) }),
      ),
    ).toBe(409);
    const current = (await co.getNamespacedCustomObject({ ...ref, name: 'w1' })) as {
      spec: { size: number };
    };
    expect(current.spec.size).toBe(4);

    await ext.deleteCustomResourceDefinition({ name: `widgets.${group}` });
  });

  it('garbage-collects an object whose owner was deleted', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = 'default';
    const owner = await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: `owner-${suffix}` }, data: { role: 'owner' } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: {
          name: `owned-${suffix}`,
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata!.name!, uid: owner.metadata!.uid! },
          ],
        },
        data: { role: 'dependent' },
      },
    });
    await core.deleteNamespacedConfigMap({
      namespace,
      name: `owner-${suffix}`,
      propagationPolicy: 'Background',
    });
    await waitFor(
      'dependent ConfigMap to be garbage-collected',
      async () =>
        (await statusOf(core.readNamespacedConfigMap({ namespace, name: `owned-${suffix}` }))) === 404
          ? true
          : undefined,
      90_000,
    );
  });
});
