// buildRunnerPod: every property of a runner pod, and that a defaulted pool's pod meets the
// PodSecurity "restricted" profile (the integration test has the API server enforce it).
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LIVE_HEAP_RSS_SHARE } from '../../../src/local/child-runner-pool.ts';
import {
  LOG_MARGIN_MIB,
  RUNNER_OPTIONS_ENV,
  RUNNER_POOL_LABEL,
  RUNTIME_OVERHEAD_MIB,
  TEMPLATE_HASH_LABEL,
  TERMINATION_MARGIN_SECONDS,
  buildRunnerPod,
  memoryBytes,
  POOLED_LIVE_HEAPS,
  runnerPodSettingsFromEnv,
} from '../../../src/controller/runner-pool/index.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../../src/runner/runner-process.ts';
import { defaultedPool, settings } from './fixtures.ts';

const container = (pod: V1Pod) => pod.spec!.containers[0]!;

/** The checks of PodSecurity "restricted" (v1.25+) that a pod spec can fail. */
function restrictedViolations(pod: V1Pod): string[] {
  const out: string[] = [];
  const spec = pod.spec!;
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push('host namespaces');
  for (const v of spec.volumes ?? []) {
    const allowed = [
      'configMap',
      'csi',
      'downwardAPI',
      'emptyDir',
      'ephemeral',
      'persistentVolumeClaim',
      'projected',
      'secret',
    ];
    const kinds = Object.keys(v).filter((k) => k !== 'name');
    if (!kinds.every((k) => allowed.includes(k))) out.push(`volume ${v.name}`);
  }
  const podSc = spec.securityContext ?? {};
  if (podSc.runAsUser === 0) out.push('pod runAsUser 0');
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) out.push('privileged');
    if (sc.allowPrivilegeEscalation !== false) out.push('allowPrivilegeEscalation');
    if (!(sc.runAsNonRoot ?? podSc.runAsNonRoot)) out.push('runAsNonRoot');
    if (sc.runAsUser === 0) out.push('runAsUser 0');
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') out.push('seccomp');
    if (!sc.capabilities?.drop?.includes('ALL')) out.push('drop ALL');
    if ((sc.capabilities?.add ?? []).some((cap) => cap !== 'NET_BIND_SERVICE')) out.push('capabilities add');
    if ((c.ports ?? []).some((p) => p.hostPort)) out.push('hostPort');
  }
  return out;
}

describe('buildRunnerPod', () => {
  it('names the pod <pool>-<5 of [a-z0-9]> in the pool namespace, labelled, owned by the pool', () => {
    const pod = buildRunnerPod(defaultedPool(), settings);
    expect(pod.metadata!.name).toMatch(/^default-[a-z0-9]{5}$/);
    expect(buildRunnerPod(defaultedPool(), settings).metadata!.name).not.toBe(pod.metadata!.name);
    expect(buildRunnerPod(defaultedPool(), settings, 'abcde').metadata!.name).toBe('default-abcde');
    expect(pod.metadata!.namespace).toBe('mcp');
    expect(pod.metadata!.labels).toEqual({
      ...settings.podLabels,
      [RUNNER_POOL_LABEL]: 'default',
      [TEMPLATE_HASH_LABEL]: expect.stringMatching(/^[0-9a-f]{10}$/) as string,
    });
    expect(pod.metadata!.ownerReferences).toEqual([
      {
        apiVersion: 'mcpv8.dev/v1alpha1',
        kind: 'RunnerPool',
        name: 'default',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it('lets the pool label win over a settings label of the same key', () => {
    const pod = buildRunnerPod(defaultedPool(), { ...settings, podLabels: { [RUNNER_POOL_LABEL]: 'x' } });
    expect(pod.metadata!.labels![RUNNER_POOL_LABEL]).toBe('default');
  });

  it('refuses a pool whose name cannot be a label value', () => {
    expect(() => buildRunnerPod(defaultedPool({}, 'p'.repeat(64)), settings)).toThrow(
      expect.objectContaining({ code: 'MCPV8_ERR_CONFIG_INVALID' }),
    );
  });

  it('never restarts, runs as the runner ServiceAccount without a token', () => {
    const { spec } = buildRunnerPod(defaultedPool(), settings);
    expect(spec!.restartPolicy).toBe('Never');
    expect(spec!.serviceAccountName).toBe('mcp-v8-runner');
    expect(spec!.automountServiceAccountToken).toBe(false);
  });

  it('is locked down: non-root 1000, RuntimeDefault seccomp, no escalation, no capabilities, read-only root', () => {
    const pod = buildRunnerPod(defaultedPool(), settings);
    expect(pod.spec!.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container(pod).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container(pod).volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.spec!.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
  });

  it('meets PodSecurity "restricted" when built from a defaulted pool, and with a full template', () => {
    expect(restrictedViolations(buildRunnerPod(defaultedPool(), settings))).toEqual([]);
    const templated = defaultedPool({
      template: {
        runtimeClassName: 'gvisor',
        nodeSelector: { pool: 'sandbox' },
        resources: { limits: { cpu: 1 } },
      },
    });
    expect(restrictedViolations(buildRunnerPod(templated, settings))).toEqual([]);
  });

  it('runs the runner image with args [runner]; the template picks image, pull policy and placement', () => {
    const plain = buildRunnerPod(defaultedPool(), settings);
    expect(container(plain).image).toBe(settings.image);
    expect(container(plain).args).toEqual(['runner']);
    expect(container(plain).imagePullPolicy).toBeUndefined();
    expect(plain.spec!.runtimeClassName).toBeUndefined();
    expect(
      container(buildRunnerPod(defaultedPool(), { ...settings, imagePullPolicy: 'Always' })).imagePullPolicy,
    ).toBe('Always');

    const affinity = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
    };
    const tolerations = [{ key: 'sandbox', operator: 'Exists', effect: 'NoSchedule' }];
    const pool = defaultedPool({
      template: {
        image: 'registry/runner:custom',
        imagePullPolicy: 'Never',
        runtimeClassName: 'gvisor',
        nodeSelector: { 'node-role': 'sandbox' },
        tolerations,
        affinity,
      },
    });
    const pod = buildRunnerPod(pool, settings);
    expect(container(pod).image).toBe('registry/runner:custom');
    expect(container(pod).imagePullPolicy).toBe('Never');
    expect(pod.spec!.runtimeClassName).toBe('gvisor');
    expect(pod.spec!.nodeSelector).toEqual({ 'node-role': 'sandbox' });
    expect(pod.spec!.tolerations).toEqual(tolerations);
    expect(pod.spec!.affinity).toEqual(affinity);
    // Copies: the pod never aliases the cached pool.
    expect(pod.spec!.affinity).not.toBe(affinity);
  });

  it('sets POD_NAME, POD_NAMESPACE, the connection env, then MCPV8_RUNNER_OPTIONS from the pool', () => {
    const policy = {
      fetch: {
        mode: 'all' as const,
        sources: [{ url: 'http://opa:8181', path: 'mcp/fetch' }],
        timeoutMs: 2000,
      },
    };
    const pool = defaultedPool({
      isolate: { defaultHeapMb: 16, maxHeapMb: 32, defaultTimeoutSeconds: 10, maxTimeoutSeconds: 60 },
      policy,
    });
    const env = container(buildRunnerPod(pool, settings)).env!;
    expect(env.map((e) => e.name)).toEqual([
      'POD_NAME',
      'POD_NAMESPACE',
      'MCP_V8_NATS_URL',
      'MCP_V8_NATS_TOKEN',
      RUNNER_OPTIONS_ENV,
    ]);
    expect(env[0]).toEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(env[1]).toEqual({
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    expect(env[3]).toEqual(settings.podEnv[1]);
    const options = JSON.parse(env[4]!.value!) as Record<string, unknown>;
    // One execution per pod: the pod itself refuses a second run.
    expect(options).toMatchObject({ defaultHeapMb: 16, policies: policy, liveHeaps: 0, runsPerPod: 1 });
    // Only known runner options, so the runner's defaults fill the rest.
    for (const k of Object.keys(options)) expect(DEFAULT_RUNNER_OPTIONS).toHaveProperty(k);
    expect(
      JSON.parse(container(buildRunnerPod(defaultedPool(), settings)).env!.at(-1)!.value!),
    ).toMatchObject({
      policies: {},
    });
  });

  it('drops settings env that would shadow what the controller sets', () => {
    const env = container(
      buildRunnerPod(defaultedPool(), {
        ...settings,
        podEnv: [
          { name: 'POD_NAME', value: 'x' },
          { name: RUNNER_OPTIONS_ENV, value: '{}' },
        ],
      }),
    ).env!;
    expect(env.filter((e) => e.name === 'POD_NAME')).toHaveLength(1);
    expect(env.filter((e) => e.name === RUNNER_OPTIONS_ENV)).toHaveLength(1);
  });

  it('lets pooled pods keep live heaps, and budgets their memory for them', () => {
    const pooled = defaultedPool({ executionsPerPod: 10 });
    const env = container(buildRunnerPod(pooled, settings)).env!;
    expect(JSON.parse(env.at(-1)!.value!)).toMatchObject({ liveHeaps: POOLED_LIVE_HEAPS });
    const memory = `${64 * (1 + POOLED_LIVE_HEAPS) + RUNTIME_OVERHEAD_MIB}Mi`;
    expect(container(buildRunnerPod(pooled, settings)).resources!.limits!.memory).toBe(memory);
  });

  it('derives memory limit = maxHeapMb + runtime overhead and request = limit', () => {
    const pod = buildRunnerPod(
      defaultedPool({ template: { resources: { requests: { cpu: '250m' }, limits: { cpu: 1 } } } }),
      settings,
    );
    const memory = `${64 + RUNTIME_OVERHEAD_MIB}Mi`;
    expect(container(pod).resources).toMatchObject({
      requests: { cpu: '250m', memory },
      limits: { cpu: '1', memory },
    });
    const small = buildRunnerPod(
      defaultedPool({
        isolate: { defaultHeapMb: 8, maxHeapMb: 16, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 300 },
      }),
      settings,
    );
    expect(container(small).resources!.limits!.memory).toBe(`${16 + RUNTIME_OVERHEAD_MIB}Mi`);
  });

  it('derives CPU (limit 1, request 100m) and ephemeral storage (/tmp + log margin) when the template sets none', () => {
    const plain = container(buildRunnerPod(defaultedPool(), settings)).resources;
    const storage = `${64 + LOG_MARGIN_MIB}Mi`;
    expect(plain).toEqual({
      requests: { memory: `${64 + RUNTIME_OVERHEAD_MIB}Mi`, cpu: '100m', 'ephemeral-storage': storage },
      limits: { memory: `${64 + RUNTIME_OVERHEAD_MIB}Mi`, cpu: '1', 'ephemeral-storage': storage },
    });
    // A bigger /tmp gets a bigger ephemeral-storage limit, and the emptyDir of that size.
    const big = buildRunnerPod(defaultedPool(), { ...settings, tmpSizeLimit: '1Gi' });
    expect(container(big).resources!.limits!['ephemeral-storage']).toBe(`${1024 + LOG_MARGIN_MIB}Mi`);
    expect(big.spec!.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '1Gi' } }]);
  });

  it('keeps what the template sets: a limit alone is also the request, a request above the derived limit raises it', () => {
    const limited = buildRunnerPod(
      defaultedPool({
        template: { resources: { limits: { memory: '1Gi', cpu: '500m', 'ephemeral-storage': '1Gi' } } },
      }),
      settings,
    );
    expect(container(limited).resources).toEqual({
      requests: { memory: '1Gi', cpu: '500m', 'ephemeral-storage': '1Gi' },
      limits: { memory: '1Gi', cpu: '500m', 'ephemeral-storage': '1Gi' },
    });
    const requested = buildRunnerPod(
      defaultedPool({ template: { resources: { requests: { memory: '150Mi', cpu: '50m' } } } }),
      settings,
    );
    expect(container(requested).resources).toMatchObject({
      requests: { memory: '150Mi', cpu: '50m' },
      limits: { memory: `${64 + RUNTIME_OVERHEAD_MIB}Mi`, cpu: '1' },
    });
    // A request above the derived limit would be invalid (request > limit): the limit follows it.
    const big = buildRunnerPod(
      defaultedPool({ template: { resources: { requests: { memory: '2Gi', cpu: 4 } } } }),
      settings,
    );
    expect(container(big).resources).toMatchObject({
      requests: { memory: '2Gi', cpu: '4' },
      limits: { memory: '2Gi', cpu: '4' },
    });
  });

  it("gives the runner a memory guard at the embedded pool's share of the pod's memory limit", () => {
    const guard = (pool: ReturnType<typeof defaultedPool>) =>
      (JSON.parse(container(buildRunnerPod(pool, settings)).env!.at(-1)!.value!) as Record<string, number>)
        .liveHeapRssBytes;
    expect(LIVE_HEAP_RSS_SHARE).toBe(0.75);
    expect(guard(defaultedPool())).toBe(Math.floor((64 + RUNTIME_OVERHEAD_MIB) * 2 ** 20 * 0.75));
    expect(guard(defaultedPool({ template: { resources: { limits: { memory: '1Gi' } } } }))).toBe(
      0.75 * 2 ** 30,
    );
    expect(guard(defaultedPool({ template: { resources: { requests: { memory: '2Gi' } } } }))).toBe(
      1.5 * 2 ** 30,
    );
  });

  it('gives a draining runner the longest timeout plus a margin to finish', () => {
    const pod = buildRunnerPod(
      defaultedPool({
        isolate: { defaultHeapMb: 8, maxHeapMb: 64, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 120 },
      }),
      settings,
    );
    expect(pod.spec!.terminationGracePeriodSeconds).toBe(120 + TERMINATION_MARGIN_SECONDS);
  });
});

describe('memoryBytes', () => {
  it('reads the quantity forms', () => {
    expect(memoryBytes('256Mi')).toBe(256 * 2 ** 20);
    expect(memoryBytes('1G')).toBe(1e9);
    expect(memoryBytes('1e3')).toBe(1000);
    expect(memoryBytes('134217728')).toBe(134217728);
    expect(memoryBytes('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(memoryBytes('lots')).toBeNaN();
  });
});

describe('runnerPodSettingsFromEnv', () => {
  const base = { MCP_V8_RUNNER_IMAGE: 'img:1', MCP_V8_RUNNER_SERVICE_ACCOUNT: 'runner' };

  it('reads image, ServiceAccount, labels and env (JSON)', () => {
    const s = runnerPodSettingsFromEnv({
      ...base,
      MCP_V8_RUNNER_POD_LABELS: '{"app.kubernetes.io/component":"runner"}',
      MCP_V8_RUNNER_POD_ENV: JSON.stringify(settings.podEnv),
    });
    expect(s).toEqual({
      image: 'img:1',
      serviceAccount: 'runner',
      podLabels: { 'app.kubernetes.io/component': 'runner' },
      podEnv: settings.podEnv,
    });
    expect(runnerPodSettingsFromEnv(base)).toMatchObject({ podLabels: {}, podEnv: [] });
  });

  it('names what is missing or malformed', () => {
    const code = /invalid configuration/;
    expect(() => runnerPodSettingsFromEnv({ MCP_V8_RUNNER_IMAGE: 'i' })).toThrow(
      /MCP_V8_RUNNER_SERVICE_ACCOUNT/,
    );
    expect(() => runnerPodSettingsFromEnv({ ...base, MCP_V8_RUNNER_POD_LABELS: '{' })).toThrow(code);
    expect(() => runnerPodSettingsFromEnv({ ...base, MCP_V8_RUNNER_POD_LABELS: '{"a":"not ok!"}' })).toThrow(
      code,
    );
    expect(() =>
      runnerPodSettingsFromEnv({
        ...base,
        MCP_V8_RUNNER_POD_ENV: '[{"name":"X","value":"1","valueFrom":{}}]',
      }),
    ).toThrow(code);
    expect(() => runnerPodSettingsFromEnv({ ...base, MCP_V8_RUNNER_POD_ENV: '{}' })).toThrow(
      /MCP_V8_RUNNER_POD_ENV/,
    );
  });
});
