/**
 * The API calls the RunnerPool reconciler makes: create and delete runner pods, merge-patch a
 * pool's status. A 404 on delete is an answer (already gone), everything else propagates so the
 * controller retries it (and recomputes at once on a 409).
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { GROUP, RUNNER_POOL_PLURAL, VERSION, type RunnerPoolStatus } from '../../api/v1alpha1/index.ts';
import { isNotFound } from '../runtime/reconciler.ts';
import { withSignal } from '../runtime/signals.ts';

/** What the reconciler asks of the API server. */
export interface RunnerPoolApi {
  createPod(pod: V1Pod, signal: AbortSignal): Promise<void>;
  /** Deletes the pod if it is still the one with `uid`; resolves false when it was gone. */
  deletePod(namespace: string, name: string, uid: string | undefined, signal: AbortSignal): Promise<boolean>;
  /** Merge-patches `/status`, only if the pool is still at `resourceVersion` (else a 409). */
  patchStatus(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    status: RunnerPoolStatus,
    signal: AbortSignal,
  ): Promise<void>;
}

/** Field manager of the controller's writes. */
export const FIELD_MANAGER = 'mcpv8-controller';

/** {@link RunnerPoolApi} over client-node. */
export function kubeRunnerPoolApi(kc: KubeConfig, fieldManager = FIELD_MANAGER): RunnerPoolApi {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  return {
    async createPod(pod, signal) {
      await core.createNamespacedPod(
        { namespace: pod.metadata!.namespace!, body: pod, fieldManager },
        withSignal(signal),
      );
    },
    async deletePod(namespace, name, uid, signal) {
      try {
        await core.deleteNamespacedPod(
          { namespace, name, body: { preconditions: uid === undefined ? undefined : { uid } } },
          withSignal(signal),
        );
        return true;
      } catch (err) {
        // 404: already gone. A 409 (uid precondition) means a new pod took the name: not ours to delete.
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async patchStatus(namespace, name, resourceVersion, status, signal) {
      const body = { ...(resourceVersion !== undefined && { metadata: { resourceVersion } }), status };
      await custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: RUNNER_POOL_PLURAL, name, body, fieldManager },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, withSignal(signal)),
      );
    },
  };
}
