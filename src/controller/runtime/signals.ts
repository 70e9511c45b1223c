/**
 * AbortSignal helpers shared by the runtime: abortable sleeps, and per-request options that make
 * a client-node API call honour a signal (its generated clients take no signal parameter, but
 * their request context does, and a middleware can set it).
 */
import { Observable, type ConfigurationOptions } from '@kubernetes/client-node';

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Options for a client-node API call (second argument) that abort the request with `signal`. */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (res) => new Observable(Promise.resolve(res)),
      },
    ],
    // Keep the configuration's own middleware (auth etc.) and add ours after it.
    middlewareMergeStrategy: 'append',
  };
}

/**
 * A signal that aborts on the first of `signals` (default SIGTERM and SIGINT), for a process's
 * composition root; `dispose` removes the listeners again.
 */
export function terminationSignal(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): {
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => controller.abort(new Error(`received ${name}`));
  for (const name of signals) process.once(name, onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const name of signals) process.off(name, onSignal);
    },
  };
}
