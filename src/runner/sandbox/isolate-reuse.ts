/**
 * Defaults of stateless isolate reuse (see SandboxPool), kept free of isolated-vm so the CLI can
 * read them without loading the native module into processes that never run user code.
 */

/** Stateless cells one isolate serves, each in a fresh context, before it is replaced. */
export const DEFAULT_CELLS_PER_ISOLATE = 100;

/** Idle reusable isolates a runner keeps (across tenants and heap caps). */
export const DEFAULT_MAX_IDLE_ISOLATES = 4;
