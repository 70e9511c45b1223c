/**
 * What an {@link Informer} lists and watches: a path, a list call and how a watched object becomes
 * a cached one. Custom resources stay plain JSON both ways (their types are JSON shapes); built-in
 * kinds are turned into client-node's typed models both ways, because its typed list calls return
 * models (dates as `Date`) while the watch stream is raw JSON (dates as strings), and one cache
 * must not hold both shapes.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Pod,
} from '@kubernetes/client-node';
// Not re-exported by the package index, yet it is the very serializer the typed list calls use
// (and `loadYaml` uses); the package has no exports map and is pinned, so a move fails the build.
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';

/** A list+watch source of objects of type `T`. */
export interface ListWatchSource<T extends KubernetesObject> {
  /** Collection path, e.g. `/api/v1/namespaces/ns/pods` (the watch adds `?watch=true`). */
  path: string;
  /** Lists the collection with the same selectors as the watch. */
  list: () => Promise<KubernetesListObject<T>>;
  /** Turns a raw watched object into the cached shape (default: as is). */
  fromWatch?: (raw: unknown) => T;
  labelSelector?: string;
  fieldSelector?: string;
}

/** Selectors and scope shared by the sources; no namespace = all namespaces. */
export interface SourceScope {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** A custom resource, e.g. `{ group: GROUP, version: VERSION, plural: EXECUTION_PLURAL }`. */
export function customResourceSource<T extends KubernetesObject>(
  kc: KubeConfig,
  ref: { group: string; version: string; plural: string } & SourceScope,
): ListWatchSource<T> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const { group, version, plural, namespace, labelSelector, fieldSelector } = ref;
  const base = `/apis/${group}/${version}`;
  return {
    path: namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`,
    list: async () =>
      (namespace
        ? await api.listNamespacedCustomObject({
            group,
            version,
            namespace,
            plural,
            labelSelector,
            fieldSelector,
          })
        : await api.listClusterCustomObject({
            group,
            version,
            plural,
            labelSelector,
            fieldSelector,
          })) as KubernetesListObject<T>,
    labelSelector,
    fieldSelector,
  };
}

/** Pods, as typed `V1Pod` models. */
export function podSource(kc: KubeConfig, scope: SourceScope = {}): ListWatchSource<V1Pod> {
  const api = kc.makeApiClient(CoreV1Api);
  const { namespace, labelSelector, fieldSelector } = scope;
  return coreV1Source('pods', 'V1Pod', scope, () =>
    namespace
      ? api.listNamespacedPod({ namespace, labelSelector, fieldSelector })
      : api.listPodForAllNamespaces({ labelSelector, fieldSelector }),
  );
}

/** ConfigMaps, as typed `V1ConfigMap` models. */
export function configMapSource(kc: KubeConfig, scope: SourceScope = {}): ListWatchSource<V1ConfigMap> {
  const api = kc.makeApiClient(CoreV1Api);
  const { namespace, labelSelector, fieldSelector } = scope;
  return coreV1Source('configmaps', 'V1ConfigMap', scope, () =>
    namespace
      ? api.listNamespacedConfigMap({ namespace, labelSelector, fieldSelector })
      : api.listConfigMapForAllNamespaces({ labelSelector, fieldSelector }),
  );
}

function coreV1Source<T extends KubernetesObject>(
  plural: string,
  model: string,
  scope: SourceScope,
  list: () => Promise<KubernetesListObject<T>>,
): ListWatchSource<T> {
  return {
    path: scope.namespace ? `/api/v1/namespaces/${scope.namespace}/${plural}` : `/api/v1/${plural}`,
    list,
    fromWatch: (raw) => ObjectSerializer.deserialize(raw, model, '') as T,
    labelSelector: scope.labelSelector,
    fieldSelector: scope.fieldSelector,
  };
}
