// The CRDs under crds/ are generated from src/api/v1alpha1: these tests fail when the checked-in
// YAML and the TypeScript drift apart, and pin the parts of the API kubectl users and the Helm
// chart rely on (names, short names, category, subresources, printer columns, domain ranges).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CRD_DIR, crdPath, renderCrd } from '../../scripts/generate-crds.ts';
import {
  CRDS,
  DEFAULT_RUNNER_POOL,
  DEFAULT_TTL_SECONDS_AFTER_FINISHED,
  EXECUTION_CODE_MAX_CHARS,
  ExecutionFailureReason,
  executionCrd,
  fromZod,
  runnerPoolCrd,
  type CustomResourceDefinition,
  type JSONSchemaProps,
} from '../../src/api/v1alpha1/index.ts';
import {
  FailureReason,
  HEAP_MB_MAX,
  HEAP_MB_MIN,
  TIMEOUT_SECONDS_MAX,
  TIMEOUT_SECONDS_MIN,
} from '../../src/core/api/execution.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const version = (crd: CustomResourceDefinition) => crd.spec.versions[0]!;
const openApi = (crd: CustomResourceDefinition) => version(crd).schema.openAPIV3Schema;
const prop = (schema: JSONSchemaProps, path: string): JSONSchemaProps =>
  path.split('.').reduce((s, name) => {
    const next = s.properties?.[name];
    if (!next) throw new Error(`no property ${path}`);
    return next;
  }, schema);
const columns = (crd: CustomResourceDefinition) =>
  version(crd).additionalPrinterColumns.map((c) => [c.name, c.type, c.jsonPath]);

describe('checked-in CRDs', () => {
  it.each(CRDS.map((crd) => [crd.metadata.name, crd] as const))(
    '%s matches the generator (run `npm run crds`)',
    (_name, crd) => {
      const text = readFileSync(join(root, crdPath(crd)), 'utf8');
      expect(text).toBe(renderCrd(crd));
      // The YAML carries every keyword, `default` included, exactly as the TypeScript has it.
      expect(parse(text)).toEqual(crd);
    },
  );

  it('has no stale file without a CRD in the source', () => {
    const files = readdirSync(join(root, CRD_DIR)).sort();
    expect(files).toEqual(CRDS.map((crd) => crdPath(crd).slice(CRD_DIR.length + 1)).sort());
  });
});

describe('Execution CRD', () => {
  const schema = openApi(executionCrd);

  it('is executions.mcpv8.dev v1alpha1, namespaced, short name exec, category mcpv8', () => {
    expect(executionCrd.metadata.name).toBe('executions.mcpv8.dev');
    expect(executionCrd.spec.scope).toBe('Namespaced');
    expect(executionCrd.spec.names).toMatchObject({
      kind: 'Execution',
      plural: 'executions',
      singular: 'execution',
      shortNames: ['exec'],
      categories: ['mcpv8'],
    });
    expect(version(executionCrd)).toMatchObject({ name: 'v1alpha1', served: true, storage: true });
    expect(version(executionCrd).subresources).toEqual({ status: {} });
  });

  it('prints Phase, Reason, Session, Runner, Start, Completion, Age', () => {
    expect(columns(executionCrd)).toEqual([
      ['Phase', 'string', '.status.phase'],
      ['Reason', 'string', '.status.conditions[?(@.type=="Succeeded")].reason'],
      ['Session', 'string', '.spec.session'],
      ['Runner', 'string', '.status.runner.pod'],
      ['Start', 'date', '.status.startTime'],
      ['Completion', 'date', '.status.completionTime'],
      ['Age', 'date', '.metadata.creationTimestamp'],
    ]);
  });

  it('takes its ranges, patterns and enums from the domain', () => {
    expect(prop(schema, 'spec.limits.heapMemoryMaxMb')).toMatchObject({
      minimum: HEAP_MB_MIN,
      maximum: HEAP_MB_MAX,
    });
    expect(prop(schema, 'spec.limits.timeoutSeconds')).toMatchObject({
      minimum: TIMEOUT_SECONDS_MIN,
      maximum: TIMEOUT_SECONDS_MAX,
    });
    expect(prop(schema, 'spec.language').enum).toEqual(['javascript', 'typescript']);
    expect(prop(schema, 'spec.heap').pattern).toBe('^[0-9a-f]{64}$');
    expect(prop(schema, 'spec.code').maxLength).toBe(EXECUTION_CODE_MAX_CHARS);
    expect(prop(schema, 'status.error.reason').enum).toEqual(Object.values(FailureReason));
    expect(prop(schema, 'status.error.reason').enum).toContain(ExecutionFailureReason.RunnerLost);
  });

  it('defaults everything but code', () => {
    expect(prop(schema, 'spec').required).toEqual(['code']);
    expect(prop(schema, 'spec.runnerPool').default).toBe(DEFAULT_RUNNER_POOL);
    expect(prop(schema, 'spec.ttlSecondsAfterFinished').default).toBe(DEFAULT_TTL_SECONDS_AFTER_FINISHED);
    expect(prop(schema, 'spec.limits').default).toEqual({ heapMemoryMaxMb: 8, timeoutSeconds: 30 });
    expect(prop(schema, 'spec.limits').required).toBeUndefined();
  });

  it('keeps the spec immutable except cancelRequested (one way) and the TTL', () => {
    const spec = prop(schema, 'spec');
    const rules = (name: string) =>
      (spec.properties![name]!['x-kubernetes-validations'] ?? []).map((r) => r.rule);
    for (const name of ['code', 'language', 'heap', 'session', 'tags', 'limits', 'runnerPool'])
      expect(rules(name), name).toContain('self == oldSelf');
    expect(rules('cancelRequested')).toEqual(['self || !oldSelf']);
    expect(rules('ttlSecondsAfterFinished')).toEqual([]);
  });
});

describe('RunnerPool CRD', () => {
  it('is runnerpools.mcpv8.dev v1alpha1, namespaced, short name rp, category mcpv8', () => {
    expect(runnerPoolCrd.metadata.name).toBe('runnerpools.mcpv8.dev');
    expect(runnerPoolCrd.spec.scope).toBe('Namespaced');
    expect(runnerPoolCrd.spec.names).toMatchObject({
      kind: 'RunnerPool',
      plural: 'runnerpools',
      shortNames: ['rp'],
      categories: ['mcpv8'],
    });
  });

  it('has the status and scale subresources', () => {
    expect(version(runnerPoolCrd).subresources).toEqual({
      status: {},
      scale: {
        specReplicasPath: '.spec.replicas',
        statusReplicasPath: '.status.replicas',
        labelSelectorPath: '.status.selector',
      },
    });
  });

  it('prints Desired, Ready, Per-Pod, Age', () => {
    expect(columns(runnerPoolCrd)).toEqual([
      ['Desired', 'integer', '.spec.replicas'],
      ['Ready', 'integer', '.status.readyReplicas'],
      ['Per-Pod', 'integer', '.spec.executionsPerPod'],
      ['Age', 'date', '.metadata.creationTimestamp'],
    ]);
  });

  it('defaults replicas to 2 and executionsPerPod to 1', () => {
    const spec = prop(openApi(runnerPoolCrd), 'spec');
    expect(prop(spec, 'replicas').default).toBe(2);
    expect(prop(spec, 'executionsPerPod').default).toBe(1);
    expect(prop(spec, 'isolate.maxHeapMb')).toMatchObject({ maximum: HEAP_MB_MAX, default: HEAP_MB_MAX });
  });
});

describe('structural schemas', () => {
  // Every node must say its type, unless it is int-or-string or deliberately left open.
  const untyped = (s: JSONSchemaProps, path: string): string[] => [
    ...(s.type || s['x-kubernetes-int-or-string'] ? [] : [path]),
    ...Object.entries(s.properties ?? {}).flatMap(([k, v]) => untyped(v, `${path}.${k}`)),
    ...(s.items ? untyped(s.items, `${path}[]`) : []),
    ...(s.additionalProperties ? untyped(s.additionalProperties, `${path}.*`) : []),
  ];

  it.each(CRDS.map((crd) => [crd.metadata.name, crd] as const))('%s types every node', (_name, crd) => {
    expect(untyped(openApi(crd), '')).toEqual([]);
  });

  it('fromZod refuses what a CRD cannot express', () => {
    expect(() => fromZod(z.object({ a: z.string() }).strict())).toThrow(/additionalProperties/);
    expect(() => fromZod(z.union([z.string(), z.number()]))).toThrow(/anyOf/);
    expect(() => fromZod(z.string().nullable())).toThrow(/nullable/);
  });
});
