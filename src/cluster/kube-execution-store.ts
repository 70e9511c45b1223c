/**
 * The cluster ExecutionStore: one Execution custom resource per record (layout in
 * execution-resource.ts, paging in execution-paging.ts).
 *
 * Writes follow the API server's rules for a resource with a status subresource: `create`
 * cannot set status, so it is a POST then a first `/status` write; `transition` is a
 * compare-and-set: read, check the phase, write `/status` with the read resourceVersion, and on
 * 409 read again and re-check (so a cancelled execution stays cancelled when its runner reports
 * late). The status write is the commit point. The `mcpv8.dev/phase` and
 * `mcpv8.dev/completed-ms` labels that lists select on live in metadata, which `/status` cannot
 * write, so they follow in a second, best-effort write; a reader never trusts them alone (it
 * re-checks status), and `listUnfinished` (run at start-up) repairs any a crash left behind.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Execution } from '../api/v1alpha1/index.ts';
import { TERMINAL_STATUSES, type ExecutionStatus } from '../core/api/execution.ts';
import { Mcpv8Error } from '../core/errors.ts';
import type {
  ExecutionPage,
  ExecutionRecord,
  ExecutionStore,
  ListExecutionsQuery,
} from '../core/execution-store.ts';
import { CONFLICT, ExecutionApi, type ExecutionMeta } from './execution-api.ts';
import {
  NewestFirst,
  compareNewestFirst,
  createdAtOrAfter,
  createdAtOrBefore,
  decodeCursor,
  encodeCursor,
  keyOf,
  phaseRequirement,
  scan,
  selector,
  type ListKey,
} from './execution-paging.ts';
import {
  LABEL_COMPLETED_MS,
  LABEL_PHASE,
  TERMINAL_PHASES,
  UNFINISHED_PHASES,
  manifestOf,
  patchRecord,
  recordOf,
  statusLabels,
  statusOf,
} from './execution-resource.ts';
import { mergePatch } from './kube-request.ts';
import { LIST_PAGE_MAX_BYTES, PageFill, assertListLimit } from '../core/list-page.ts';

export { LIST_LIMIT_MAX } from '../core/list-page.ts';
/** Objects per list request when only metadata is read (a few hundred bytes each). */
const METADATA_CHUNK = 500;
/** Objects per list request when full objects are read (the spec holds up to 256 Ki of code). */
const OBJECT_CHUNK = 100;
/**
 * Objects of a page read first (an object holds up to ~1 MiB); later groups are sized by the
 * bytes of those read so far.
 */
const FIRST_GROUP = 20;
/** Conflicting writes a transition re-reads through before giving up. */
const MAX_ATTEMPTS = 8;

type Patch = Parameters<ExecutionStore['transition']>[3];

export interface KubeExecutionStoreOptions {
  kubeConfig: KubeConfig;
  /**
   * Namespaces `listUnfinished` and `deleteCompletedBefore` cover. Default: every namespace,
   * which needs cluster-wide list and delete permission on executions.
   */
  namespaces?: readonly string[];
  /** Field manager named in the objects' managedFields (default `mcpv8`). */
  fieldManager?: string;
  /**
   * Whether `create` writes the first status (default true). The cluster gateway may not write
   * `executions/status`: it only creates the object, which reads as queued until the controller
   * writes a status.
   */
  writeInitialStatus?: boolean;
}

/** {@link ExecutionStore} on Execution custom resources. */
export class KubeExecutionStore implements ExecutionStore {
  readonly #api: ExecutionApi;
  readonly #scopes: ReadonlyArray<string | undefined>;
  readonly #writeInitialStatus: boolean;

  constructor(opts: KubeExecutionStoreOptions) {
    this.#api = new ExecutionApi(opts.kubeConfig, opts.fieldManager ?? 'mcpv8');
    this.#scopes = opts.namespaces === undefined ? [undefined] : [...opts.namespaces];
    this.#writeInitialStatus = opts.writeInitialStatus ?? true;
  }

  /**
   * Creates the object (and, unless `writeInitialStatus` is false, its first status; a record
   * created without one must be `queued`, which is how an object without status reads).
   * @throws MCPV8_ERR_INPUT_INVALID for an id that is not a DNS label or a missing namespace.
   */
  async create(record: ExecutionRecord, signal?: AbortSignal): Promise<void> {
    if (!isDnsLabel(record.id)) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`execution id ${record.id} is not a DNS label`]);
    }
    if (!this.#writeInitialStatus && record.status !== 'queued') {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
        `execution ${record.id}: without an initial status write only a queued record can be created`,
      ]);
    }
    let manifest;
    try {
      manifest = manifestOf(record);
    } catch (err) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [(err as Error).message], { cause: err });
    }
    const created = await this.#api.create(manifest, signal);
    if (created === CONFLICT) {
      throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
        `execution ${record.id} already exists in namespace ${record.namespace}`,
      ]);
    }
    if (!this.#writeInitialStatus) return;
    const { resourceVersion, generation, uid } = created.metadata ?? {};
    try {
      const status = statusOf(record, undefined, generation, now());
      // CONFLICT: the controller saw the object first and wrote a status; keep its version.
      await this.#api.patchStatus(record.namespace, record.id, resourceVersion!, status, signal);
    } catch (err) {
      // All or nothing: without its status the object would read as another record.
      await this.#api.delete(record.namespace, record.id, { uid }).catch(() => {});
      throw err;
    }
  }

  async get(namespace: string, id: string, signal?: AbortSignal): Promise<ExecutionRecord | undefined> {
    signal?.throwIfAborted();
    if (!isDnsLabel(namespace) || !isDnsLabel(id)) return undefined;
    const execution = await this.#api.get(namespace, id, signal);
    return execution === undefined ? undefined : recordOf(execution);
  }

  async transition(
    namespace: string,
    id: string,
    from: readonly ExecutionStatus[],
    patch: Patch,
    signal?: AbortSignal,
  ): Promise<ExecutionRecord | undefined> {
    signal?.throwIfAborted();
    if (from.length === 0 || !isDnsLabel(namespace) || !isDnsLabel(id)) return undefined;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.#api.get(namespace, id, signal);
      if (current === undefined) return undefined;
      const record = recordOf(current);
      if (!from.includes(record.status)) return undefined;
      const next = patchRecord(record, patch);
      // An empty patch still answers whether the record is in one of `from`.
      if (next === record) return record;
      const status = statusOf(next, current.status, current.metadata?.generation, now());
      const written = await this.#api.patchStatus(
        namespace,
        id,
        current.metadata!.resourceVersion!,
        mergePatch(current.status, status),
        signal,
      );
      if (written === undefined) return undefined;
      // 409: another writer got there first; recompute from what it wrote.
      if (written === CONFLICT) continue;
      await this.#syncLabels(written, signal);
      return recordOf(written);
    }
    throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
      `execution ${id}: ${MAX_ATTEMPTS} conflicting writes in a row`,
    ]);
  }

  /** @throws MCPV8_ERR_INPUT_INVALID for a limit outside 1–1000 or a cursor this store did not issue. */
  async list(query: ListExecutionsQuery, signal?: AbortSignal): Promise<ExecutionPage> {
    signal?.throwIfAborted();
    const { namespace, status, limit, cursor } = query;
    assertListLimit(limit);
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (!isDnsLabel(namespace)) return { items: [] };
    const phase = phaseRequirement(status);

    // Step 1: the limit + 1 newest keys after the cursor, from labels alone (one more than asked
    // tells whether another page exists).
    const newest = new NewestFirst(limit + 1);
    const older = (k: ListKey) => after === undefined || compareNewestFirst(after, k) < 0;
    await scan<ExecutionMeta>(
      (req) => this.#api.listMetadata(req, signal),
      {
        namespace,
        labelSelector: selector(phase, after && createdAtOrBefore(after.ms)),
        limit: METADATA_CHUNK,
      },
      (items) => {
        for (const { metadata } of items) {
          const key = keyOf(metadata);
          if (key !== undefined && older(key)) newest.add(key);
        }
      },
    );
    const keys = newest.keys();
    const page = keys.slice(0, limit);
    if (page.length === 0) return { items: [] };

    // Step 2: the full objects of the page, newest first, in groups each read through one window
    // of creation times, until the page holds LIST_PAGE_MAX_BYTES: what is read stays near the
    // page's bytes, however large the objects. Labels lag status for a moment after a
    // transition: status decides. A page that stops at its bytes ends at the last record it kept.
    const fill = new PageFill<ListKey>(limit);
    const items: ExecutionRecord[] = [];
    let bytes = 0;
    for (let from = 0, size = FIRST_GROUP; from < page.length; from += size) {
      if (from > 0) size = nextGroupSize(bytes, items.length);
      const group = page.slice(from, from + size);
      const found = await this.#objects(namespace, phase, group, signal);
      for (const key of group) {
        const r = found.get(key.id);
        if (r === undefined || (status !== undefined && r.status !== status)) continue;
        const recordBytes = Buffer.byteLength(JSON.stringify(r));
        if (!fill.add(key, recordBytes)) return { items, nextCursor: encodeCursor(fill.items.at(-1)!) };
        items.push(r);
        bytes += recordBytes;
      }
    }
    return keys.length > limit ? { items, nextCursor: encodeCursor(page.at(-1)!) } : { items };
  }

  /** The records of `keys` (newest first), by id, read through one window of creation times. */
  async #objects(
    namespace: string,
    phase: string | undefined,
    keys: readonly ListKey[],
    signal?: AbortSignal,
  ): Promise<Map<string, ExecutionRecord>> {
    const wanted = new Set(keys.map((k) => k.id));
    const found = new Map<string, ExecutionRecord>();
    await scan<Execution>(
      (req) => this.#api.list(req, signal),
      {
        namespace,
        labelSelector: selector(phase, createdAtOrAfter(keys.at(-1)!.ms), createdAtOrBefore(keys[0]!.ms)),
        limit: OBJECT_CHUNK,
      },
      (items) => {
        for (const execution of items) {
          const record = recordOf(execution);
          if (wanted.has(record.id)) found.set(record.id, record);
        }
      },
    );
    return found;
  }

  async listUnfinished(signal?: AbortSignal): Promise<ExecutionRecord[]> {
    signal?.throwIfAborted();
    const unfinished = new Map<string, ExecutionRecord>();
    const stale: Execution[] = [];
    await this.#scanAll(`${LABEL_PHASE} in (${UNFINISHED_PHASES.join(',')})`, signal, (execution) => {
      const record = recordOf(execution);
      if (TERMINAL_STATUSES.has(record.status)) stale.push(execution);
      else unfinished.set(`${record.namespace}/${record.id}`, record);
    });
    // A crash between a status write and its label write left these labelled unfinished.
    for (const execution of stale) await this.#syncLabels(execution, signal);
    return [...unfinished.values()].sort(
      (a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }

  /** @throws RangeError when `before` is not an ISO-8601 time. */
  async deleteCompletedBefore(before: string, signal?: AbortSignal): Promise<string[]> {
    signal?.throwIfAborted();
    const beforeMs = Date.parse(before);
    if (Number.isNaN(beforeMs)) throw new RangeError(`not an ISO-8601 time: ${before}`);
    // Completion times are labelled as non-negative integers: nothing ends before 1970.
    if (beforeMs <= 0) return [];
    const requirement = `${LABEL_PHASE} in (${TERMINAL_PHASES.join(',')}),${LABEL_COMPLETED_MS}<${beforeMs}`;
    const candidates: Execution[] = [];
    await this.#scanAll(requirement, signal, (execution) => {
      const { status, completedAt } = recordOf(execution);
      // The labels chose candidates; status decides.
      if (TERMINAL_STATUSES.has(status) && completedAt !== undefined && Date.parse(completedAt) < beforeMs) {
        candidates.push(execution);
      }
    });
    const deleted: string[] = [];
    for (const { metadata } of candidates) {
      const { namespace, name, uid, resourceVersion } = metadata!;
      // Preconditions: an object written since it was read is left for the next run.
      if (await this.#api.delete(namespace!, name!, { uid, resourceVersion }, signal)) deleted.push(name!);
    }
    return deleted;
  }

  /** Calls `each` for every object matching `requirement` in the store's namespaces. */
  async #scanAll(
    requirement: string,
    signal: AbortSignal | undefined,
    each: (execution: Execution) => void,
  ): Promise<void> {
    for (const namespace of this.#scopes) {
      await scan<Execution>(
        (req) => this.#api.list(req, signal),
        {
          ...(namespace !== undefined && { namespace }),
          labelSelector: selector(requirement),
          limit: OBJECT_CHUNK,
        },
        (items) => items.forEach(each),
      );
    }
  }

  /**
   * Brings the status labels of `execution` in line with its status. Best effort: the status is
   * already committed, and a label left stale is repaired by the next transition or by
   * `listUnfinished`; so failures are swallowed rather than reported as a failed transition.
   */
  async #syncLabels(execution: Execution | undefined, signal?: AbortSignal): Promise<void> {
    try {
      for (let attempt = 0; attempt < 3 && execution !== undefined; attempt++) {
        const { namespace, name, resourceVersion, labels = {} } = execution.metadata!;
        const want = statusLabels(recordOf(execution), execution.status?.phase);
        const diff = Object.fromEntries(Object.entries(want).filter(([k, v]) => (labels[k] ?? null) !== v));
        if (Object.keys(diff).length === 0) return;
        const res = await this.#api.patchLabels(namespace!, name!, resourceVersion!, diff, signal);
        if (res !== CONFLICT) return;
        execution = await this.#api.get(namespace!, name!, signal);
      }
    } catch {
      // See above: the labels are an index, status is the record.
    }
  }
}

function isDnsLabel(s: string): boolean {
  return s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);
}

function now(): string {
  return new Date().toISOString();
}

/** Objects to read next: about what fills the rest of the page, going by those kept so far. */
function nextGroupSize(bytes: number, kept: number): number {
  if (kept === 0) return OBJECT_CHUNK;
  const fit = Math.ceil(Math.max(0, LIST_PAGE_MAX_BYTES - bytes) / (bytes / kept)) + 1;
  return Math.max(1, Math.min(OBJECT_CHUNK, fit));
}
