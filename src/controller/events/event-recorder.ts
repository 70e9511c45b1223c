/**
 * Kubernetes Events (events.k8s.io/v1) about the objects the controller manages, so `kubectl
 * describe` and `kubectl events` tell what it did. Recording never blocks or throws: an event is
 * a best-effort note, and a failing apiserver must not fail a reconcile. Repeats are folded: the
 * same object+type+reason within a window creates one event and then, if it kept happening, one
 * summary with `series.count` when the window closes; a global token bucket caps the rest.
 */
import {
  EventsV1Api,
  V1MicroTime,
  type EventsV1Event,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';

/** Who reports the events (`reportingController`). */
export const REPORTING_CONTROLLER = 'mcpv8.dev/controller';

/** events.k8s.io/v1 bounds a note to 1 KiB. */
export const MAX_NOTE_BYTES = 1024;

export type EventType = 'Normal' | 'Warning';

/** A CamelCase reason from a caller's fixed vocabulary (e.g. RunnerPoolEventReason). */
const REASON = /^[A-Z][A-Za-z0-9]{0,127}$/;

/** Where events go (the API server by default; a fake in tests). */
export interface EventSink {
  create(namespace: string, event: EventsV1Event): Promise<unknown>;
}

/** Options of an {@link EventRecorder}. */
export interface EventRecorderOptions {
  /** The controller's pod name (`reportingInstance`, ≤ 128 characters). */
  instance: string;
  kubeConfig?: KubeConfig;
  /** Overrides `kubeConfig` (tests). */
  sink?: EventSink;
  /** Repeats of one object+type+reason within this window are counted, not created (default 10 000 ms). */
  dedupWindowMs?: number;
  /** Token bucket over all events: burst and refill per second (default 50 and 5). */
  burst?: number;
  perSecond?: number;
  /** Keys remembered for folding; the oldest are forgotten past this (default 4096). */
  maxKeys?: number;
  now?: () => number;
  log?: Pick<Logger, 'debug' | 'warn'>;
}

/** The object an event is about. */
export type Regarding = Pick<KubernetesObject, 'apiVersion' | 'kind' | 'metadata'>;

interface Window {
  openedAt: number;
  /** Occurrences folded since the window's event was created. */
  folded: number;
  last?: { regarding: Regarding; type: EventType; reason: string; note: string; action: string };
  timer?: NodeJS.Timeout;
}

/** Records events fire-and-forget; see the module comment for the folding rules. */
export class EventRecorder {
  readonly #instance: string;
  readonly #sink: EventSink;
  readonly #windowMs: number;
  readonly #burst: number;
  readonly #perSecond: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #log: EventRecorderOptions['log'];
  readonly #windows = new Map<string, Window>();
  readonly #inFlight = new Set<Promise<void>>();
  #tokens: number;
  #refilledAt: number;
  #dropped = 0;
  #closed = false;

  constructor(opts: EventRecorderOptions) {
    this.#instance = opts.instance.slice(0, 128);
    if (opts.sink) this.#sink = opts.sink;
    else if (opts.kubeConfig) this.#sink = apiSink(opts.kubeConfig);
    else throw new TypeError('EventRecorder needs a kubeConfig or a sink');
    this.#windowMs = opts.dedupWindowMs ?? 10_000;
    this.#burst = opts.burst ?? 50;
    this.#perSecond = opts.perSecond ?? 5;
    this.#maxKeys = opts.maxKeys ?? 4096;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#now();
  }

  /** Events refused by the rate limit so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Records that `reason` happened to `regarding` (which needs a namespace, name and uid).
   * `action` says what the controller did or failed to do (default: the reason).
   */
  record(regarding: Regarding, type: EventType, reason: string, note: string, action = reason): void {
    if (this.#closed) return;
    if (!REASON.test(reason) || !REASON.test(action)) {
      this.#log?.warn({ reason, action }, 'event reason or action is not CamelCase; not recorded');
      return;
    }
    const meta = regarding.metadata;
    if (!meta?.name || !meta.namespace) return;
    const key = `${meta.namespace}/${meta.uid ?? meta.name}/${type}/${reason}`;
    const now = this.#now();
    const open = this.#windows.get(key);
    if (open && now - open.openedAt < this.#windowMs) {
      open.folded++;
      open.last = { regarding, type, reason, note, action };
      open.timer ??= setTimeout(() => this.#closeWindow(key), open.openedAt + this.#windowMs - now).unref();
      return;
    }
    if (open) this.#closeWindow(key);
    this.#windows.set(key, { openedAt: now, folded: 0 });
    this.#evictOldest();
    this.#emit(regarding, type, reason, note, action, 1);
  }

  /** Resolves once every event being sent has been answered (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Sends the pending summaries, stops recording and waits for what is in flight. */
  async close(): Promise<void> {
    for (const key of [...this.#windows.keys()]) this.#closeWindow(key);
    this.#closed = true;
    await this.flush();
  }

  /** Ends a window: if repeats were folded into it, one event carries their count. */
  #closeWindow(key: string): void {
    const window = this.#windows.get(key);
    if (!window) return;
    clearTimeout(window.timer);
    this.#windows.delete(key);
    const last = window.last;
    if (window.folded > 0 && last && !this.#closed) {
      // The count covers the window's first occurrence too (series.count is at least 2).
      this.#emit(last.regarding, last.type, last.reason, last.note, last.action, window.folded + 1);
    }
  }

  #evictOldest(): void {
    while (this.#windows.size > this.#maxKeys) {
      const oldest = this.#windows.keys().next().value;
      if (oldest === undefined) return;
      const window = this.#windows.get(oldest);
      clearTimeout(window?.timer);
      this.#windows.delete(oldest);
    }
  }

  #takeToken(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  #emit(
    regarding: Regarding,
    type: EventType,
    reason: string,
    note: string,
    action: string,
    count: number,
  ): void {
    if (!this.#takeToken()) {
      if (this.#dropped++ % 100 === 0)
        this.#log?.warn({ dropped: this.#dropped }, 'event rate limit reached; dropping events');
      return;
    }
    const meta = regarding.metadata!;
    const namespace = meta.namespace!;
    const eventTime = new V1MicroTime(this.#now());
    const event: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // Named as client-go names events; generateName cannot end in the '.' separator.
      metadata: { name: `${meta.name!.slice(0, 200)}.${eventName(this.#now())}`, namespace },
      eventTime,
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.#instance,
      action,
      reason,
      type,
      note: boundNote(note),
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: meta.name,
        namespace,
        uid: meta.uid,
        resourceVersion: meta.resourceVersion,
      },
      // A folded summary: how often it happened in the window, the first event included.
      ...(count > 1 && { series: { count, lastObservedTime: eventTime } }),
    };
    const sent = this.#sink.create(namespace, event).then(
      () => undefined,
      (err: unknown) =>
        this.#log?.warn({ err, reason, object: `${namespace}/${meta.name}` }, 'event not recorded'),
    );
    this.#inFlight.add(sent);
    void sent.finally(() => this.#inFlight.delete(sent));
  }
}

/** `note` cut to {@link MAX_NOTE_BYTES} bytes of UTF-8 without splitting a character. */
export function boundNote(note: string): string {
  if (Buffer.byteLength(note, 'utf8') <= MAX_NOTE_BYTES) return note;
  const suffix = '…';
  const budget = MAX_NOTE_BYTES - Buffer.byteLength(suffix, 'utf8');
  let out = '';
  let bytes = 0;
  for (const ch of note) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > budget) break;
    out += ch;
    bytes += size;
  }
  return out + suffix;
}

/** A unique event-name suffix: time in hex plus random bits (two controllers may record at once). */
function eventName(now: number): string {
  return `${now.toString(16)}${randomBytes(3).toString('hex')}`;
}

function apiSink(kc: KubeConfig): EventSink {
  const api = kc.makeApiClient(EventsV1Api);
  return { create: (namespace, body) => api.createNamespacedEvent({ namespace, body }) };
}
