/**
 * The domain shared by the three roles (gateway, controller, runner): schemas, interfaces,
 * errors and conditions. No I/O happens here, and nothing here imports from other folders.
 */
export * from './errors.ts';
export * from './api/execution.ts';
export * from './api/outcome.ts';
export * from './api/heap-id.ts';
export * from './runner-pool.ts';
export * from './execution-store.ts';
export * from './heap.ts';
export * from './session-log.ts';
export * from './heap-chain.ts';
export * from './policy.ts';
export * from './output-page.ts';
export * from './list-page.ts';
export * from './output-buffer.ts';
