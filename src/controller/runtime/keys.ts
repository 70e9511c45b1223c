/**
 * Queue keys: `namespace/name` for namespaced objects, `name` for cluster-scoped ones (client-go's
 * MetaNamespaceKeyFunc), so one queue can hold keys of any kind and a key is all a reconcile needs.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** The key of an object; throws when it has no name. */
export function objectKey(obj: KubernetesObject): string {
  const name = obj.metadata?.name;
  if (!name) throw new TypeError('object has no metadata.name');
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a key from {@link objectKey}; `namespace` is '' for cluster-scoped objects. */
export function parseKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { namespace: '', name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
