/**
 * mcpv8.dev/v1alpha1: the Execution and RunnerPool custom resources — their TypeScript types and
 * the CRDs generated from them (`npm run crds` writes crds/*.yaml).
 */
import type { CustomResourceDefinition } from './crd.ts';
import { executionCrd } from './execution-crd.ts';
import { runnerPoolCrd } from './runner-pool-crd.ts';

export * from './group.ts';
export * from './defaults.ts';
export * from './condition.ts';
export * from './crd.ts';
export * from './openapi.ts';
export * from './execution-types.ts';
export * from './execution-crd.ts';
export * from './runner-pool-types.ts';
export * from './runner-pod-floors.ts';
export * from './runner-pool-crd.ts';

/** Every CRD of the version, in install order. */
export const CRDS: readonly CustomResourceDefinition[] = [executionCrd, runnerPoolCrd];
