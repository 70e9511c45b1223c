/**
 * The few Kubernetes API calls the cluster ExecutionStore makes on Execution objects, over
 * client-node's CustomObjectsApi (plain JSON bodies: its typed models would drop unknown keys).
 * Every call honours an AbortSignal; NotFound and Conflict come back as values, because for a
 * store they are answers (missing, lost a race), not failures; anything else becomes an
 * Mcpv8Error (a caller's abort passes through unchanged).
 */
import {
  ApiException,
  CustomObjectsApi,
  PatchStrategy,
  type ConfigurationOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { EXECUTION_PLURAL, GROUP, VERSION, type Execution } from '../api/v1alpha1/index.ts';
import { Mcpv8Error } from '../core/errors.ts';
import { errorCode } from '../core/heap-store-failure.ts';
import type { ExecutionManifest } from './execution-resource.ts';
import { requestOptions, reuseConnections } from './kube-request.ts';

/** The answer of a write whose resourceVersion precondition failed: re-read and recompute. */
export const CONFLICT: unique symbol = Symbol('conflict');

/** Object metadata as the store reads it (a metadata-only list returns nothing else). */
export interface ExecutionMeta {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    uid?: string;
    labels?: Record<string, string>;
  };
}

export interface ListPage<T> {
  items: T[];
  continue?: string;
}

export interface ListRequest {
  /** Absent: every namespace. */
  namespace?: string;
  labelSelector: string;
  limit: number;
  continue?: string;
}

const REF = { group: GROUP, version: VERSION, plural: EXECUTION_PLURAL } as const;
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

/** Execution objects through one KubeConfig. */
export class ExecutionApi {
  readonly #api: CustomObjectsApi;
  readonly #fieldManager: string;
  readonly #connections = reuseConnections();

  constructor(kubeConfig: KubeConfig, fieldManager: string) {
    this.#api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.#fieldManager = fieldManager;
  }

  /** Per-request options: pooled connections, the caller's signal, content type and accept. */
  #options(signal?: AbortSignal, contentType?: string, accept?: string): ConfigurationOptions {
    return requestOptions(this.#connections, { signal, contentType, accept });
  }

  /** @returns undefined when there is no such object (or namespace). */
  async get(namespace: string, name: string, signal?: AbortSignal): Promise<Execution | undefined> {
    const res = await this.#call('get', signal, () =>
      this.#api.getNamespacedCustomObject({ ...REF, namespace, name }, this.#options(signal)),
    );
    return res === CONFLICT ? undefined : (res as Execution | undefined);
  }

  /** @returns CONFLICT when the name is taken. */
  async create(manifest: ExecutionManifest, signal?: AbortSignal): Promise<Execution | typeof CONFLICT> {
    const { namespace } = manifest.metadata;
    const res = await this.#call('create', signal, () =>
      this.#api.createNamespacedCustomObject(
        { ...REF, namespace, body: manifest, fieldManager: this.#fieldManager },
        this.#options(signal),
      ),
    );
    if (res === undefined) throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`no namespace ${namespace}`]);
    return res as Execution | typeof CONFLICT;
  }

  /**
   * JSON merge patch of `/status`, applied only if the object is still at `resourceVersion`.
   * @returns CONFLICT when it is not; undefined when the object is gone.
   */
  patchStatus(
    namespace: string,
    name: string,
    resourceVersion: string,
    status: unknown,
    signal?: AbortSignal,
  ): Promise<Execution | typeof CONFLICT | undefined> {
    const body = { metadata: { resourceVersion }, status };
    return this.#call('status update', signal, () =>
      this.#api.patchNamespacedCustomObjectStatus(
        { ...REF, namespace, name, body, fieldManager: this.#fieldManager },
        this.#options(signal, PatchStrategy.MergePatch),
      ),
    ) as Promise<Execution | typeof CONFLICT | undefined>;
  }

  /** JSON merge patch of `metadata.labels`, only if the object is still at `resourceVersion`. */
  patchLabels(
    namespace: string,
    name: string,
    resourceVersion: string,
    labels: Record<string, string | null>,
    signal?: AbortSignal,
  ): Promise<Execution | typeof CONFLICT | undefined> {
    const body = { metadata: { resourceVersion, labels } };
    return this.#call('label update', signal, () =>
      this.#api.patchNamespacedCustomObject(
        { ...REF, namespace, name, body, fieldManager: this.#fieldManager },
        this.#options(signal, PatchStrategy.MergePatch),
      ),
    ) as Promise<Execution | typeof CONFLICT | undefined>;
  }

  /**
   * JSON merge patch of `spec` (e.g. `{cancelRequested: true}`), without a resourceVersion
   * precondition: the CRD's rules decide which spec fields may change.
   * @returns undefined when the object is gone.
   */
  async patchSpec(
    namespace: string,
    name: string,
    spec: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<Execution | undefined> {
    const res = await this.#call('spec update', signal, () =>
      this.#api.patchNamespacedCustomObject(
        { ...REF, namespace, name, body: { spec }, fieldManager: this.#fieldManager },
        this.#options(signal, PatchStrategy.MergePatch),
      ),
    );
    return res === CONFLICT ? undefined : (res as Execution | undefined);
  }

  /**
   * Deletes the object if it is still the one described (uid and, when given, resourceVersion).
   * @returns true when deleted, false when it is gone or changed.
   */
  async delete(
    namespace: string,
    name: string,
    preconditions: { uid?: string; resourceVersion?: string },
    signal?: AbortSignal,
  ): Promise<boolean> {
    const res = await this.#call('delete', signal, () =>
      this.#api.deleteNamespacedCustomObject(
        { ...REF, namespace, name, body: { preconditions } },
        this.#options(signal),
      ),
    );
    return res !== undefined && res !== CONFLICT;
  }

  /** One page of full objects. */
  list(req: ListRequest, signal?: AbortSignal): Promise<ListPage<Execution>> {
    return this.#list(req, signal, undefined);
  }

  /** One page of metadata only: labels without the spec's code, for scans. */
  listMetadata(req: ListRequest, signal?: AbortSignal): Promise<ListPage<ExecutionMeta>> {
    return this.#list(req, signal, METADATA_ONLY);
  }

  async #list<T>(req: ListRequest, signal: AbortSignal | undefined, accept?: string): Promise<ListPage<T>> {
    const query = {
      ...REF,
      labelSelector: req.labelSelector,
      limit: req.limit,
      ...(req.continue !== undefined && { _continue: req.continue }),
    };
    const opts = this.#options(signal, undefined, accept);
    const res = await this.#call('list', signal, () =>
      req.namespace === undefined
        ? this.#api.listClusterCustomObject(query, opts)
        : this.#api.listNamespacedCustomObject({ ...query, namespace: req.namespace }, opts),
    );
    if (res === undefined || res === CONFLICT) return { items: [] };
    const list = res as { items?: T[]; metadata?: { continue?: string } };
    const next = list.metadata?.continue;
    return { items: list.items ?? [], ...(next ? { continue: next } : {}) };
  }

  async #call(
    what: string,
    signal: AbortSignal | undefined,
    request: () => Promise<unknown>,
  ): Promise<unknown> {
    signal?.throwIfAborted();
    try {
      return await request();
    } catch (err) {
      if (err instanceof ApiException) {
        const code = (err as ApiException<unknown>).code;
        // A Status NotFound: no such object (or namespace). A bare 404 page: no such resource type.
        if (code === 404 && statusReason(err.body) === 'NotFound') return undefined;
        if (code === 409) return CONFLICT;
      }
      throw apiFailure(err, what, signal);
    }
  }
}

/** True for the 410 Gone of a list whose continue token expired (the scan must restart). */
export function isExpired(err: unknown): boolean {
  return err instanceof Mcpv8Error && err.details.status === 410;
}

/**
 * What a failed API call means to the caller: not found, invalid input, the API server
 * throttling or unavailable (retryable), or an internal error.
 * @internal exported for tests
 */
export function apiFailure(err: unknown, what: string, signal: AbortSignal | undefined): unknown {
  // The caller gave up: not the API server's fault, and not to be dressed up as one.
  if (signal?.aborted) return err;
  if (err instanceof ApiException) {
    const e = err as ApiException<unknown>;
    const message = statusMessage(e.body);
    const details = { status: e.code, reason: statusReason(e.body) };
    if (e.code === 404) {
      return new Mcpv8Error(
        'MCPV8_ERR_SERVER_INTERNAL',
        [
          `execution ${what}: the Kubernetes API does not serve ${EXECUTION_PLURAL}.${GROUP}/${VERSION} (is the CRD installed?)`,
        ],
        { details, cause: err },
      );
    }
    if (e.code === 400 || e.code === 422) {
      return new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`execution ${what}: ${message}`], {
        details,
        cause: err,
      });
    }
    // Priority and fairness throttling (429), or the API server overloaded or restarting: the
    // caller's request was fine, and the API server says when to come back.
    if (e.code === 429 || e.code === 503 || e.code === 504) {
      const retryAfter = Number(e.headers?.['retry-after']);
      return new Mcpv8Error('MCPV8_ERR_CLUSTER_BUSY', [`the Kubernetes API answered ${e.code}`], {
        details: { ...details, ...(retryAfter > 0 && { retryAfterSeconds: retryAfter }) },
        cause: err,
      });
    }
    return new Mcpv8Error(
      'MCPV8_ERR_SERVER_INTERNAL',
      [`execution ${what}: the Kubernetes API answered ${e.code} (${message})`],
      { details, cause: err },
    );
  }
  return new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [`execution ${what}: ${errorCode(err)}`], {
    cause: err,
  });
}

/** The `message` of a metav1.Status body (client-node hands it over as text or parsed). */
function statusMessage(body: unknown): string {
  const message = statusField(body, 'message');
  return typeof message === 'string' ? message : 'no message';
}

function statusReason(body: unknown): unknown {
  return statusField(body, 'reason');
}

function statusField(body: unknown, key: string): unknown {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}
