/**
 * The harness's scheduler: the control plane has no kube-scheduler, so every pod of any
 * namespace that is not bound yet is bound to the one real node as soon as it is seen (what
 * kube-scheduler would do with one schedulable node and no constraints the tests use).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { Informer, podSource } from '../../../src/controller/runtime/index.ts';
import { kubeApi } from '../kube-api.ts';
import { tokenKubeConfig } from '../kube-config.ts';
import type { KubeEndpoint } from '../kube.ts';

export class PodBinder {
  /** Bindings the API server refused (other than a pod already gone or bound). */
  readonly problems: string[] = [];
  readonly #kube: KubeEndpoint;
  readonly #abort = new AbortController();
  readonly #bound = new Set<string>();
  #done: Promise<void> = Promise.resolve();

  private constructor(kube: KubeEndpoint) {
    this.#kube = kube;
  }

  static async start(kube: KubeEndpoint): Promise<PodBinder> {
    const binder = new PodBinder(kube);
    const informer = new Informer<V1Pod>({
      kubeConfig: tokenKubeConfig(kube),
      source: podSource(tokenKubeConfig(kube), { fieldSelector: 'spec.nodeName=' }),
      restartBackoff: { baseMs: 100, maxMs: 2000 },
    });
    informer.addEventHandler({
      onAdd: (pod) => void binder.#bind(pod),
      onUpdate: (pod) => void binder.#bind(pod),
    });
    binder.#done = informer.start(binder.#abort.signal);
    await informer.waitForSync(binder.#abort.signal);
    return binder;
  }

  async #bind(pod: V1Pod): Promise<void> {
    const { name, namespace, uid, deletionTimestamp } = pod.metadata ?? {};
    if (!name || !namespace || !uid || pod.spec?.nodeName || deletionTimestamp || this.#bound.has(uid))
      return;
    this.#bound.add(uid);
    const reply = await kubeApi(this.#kube, 'POST', `/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
      body: {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name, uid },
        target: { apiVersion: 'v1', kind: 'Node', name: this.#kube.node.name },
      },
    }).catch((err: unknown) => ({ status: 0, body: { error: String(err) } }));
    // 404: deleted meanwhile; 409: bound meanwhile. Neither is the binder's problem.
    if (reply.status !== 201 && reply.status !== 404 && reply.status !== 409) {
      this.problems.push(`bind ${namespace}/${name}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
      this.#bound.delete(uid);
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#done.catch(() => undefined);
  }
}
