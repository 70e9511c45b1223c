// The chart with the egress broker on (egress.enabled): runner pods may reach the gateway pods
// on the broker's port and nothing more than before, are told where the broker is and never get
// the token key; the gateway and the controller get the key from its Secret; the gateway serves
// the broker on its own Service port with its policies and header rules mounted. Off by default.
import { describe, expect, it } from 'vitest';
import { findHelm, renderChart, type ChartObject } from '../harness/chart-install.ts';

const { helm, reason } = await findHelm();
if (reason) console.warn(`helm-chart-egress.int.test.ts skipped: ${reason}`);

const ON = {
  egress: {
    enabled: true,
    keySecret: { name: 'egress-key' },
    policies: { fetch: { sources: [{ url: 'http://opa.opa.svc:8181', path: 'mcp/fetch' }] } },
    headerRulesSecret: { name: 'egress-headers' },
  },
};

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
type Container = { env?: EnvVar[]; ports?: Array<{ name: string; containerPort: number }> };

const container = (objs: ChartObject[], name: string): Container =>
  (
    objs.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!.spec as {
      template: { spec: { containers: Container[] } };
    }
  ).template.spec.containers[0]!;
const env = (objs: ChartObject[], name: string) =>
  new Map((container(objs, name).env ?? []).map((e) => [e.name, e]));
const runnerEgress = (objs: ChartObject[]) =>
  (
    objs.find((o) => o.kind === 'NetworkPolicy')!.spec as {
      egress: Array<{ to: Array<Record<string, unknown>>; ports: unknown[] }>;
    }
  ).egress;

describe.skipIf(!helm)('chart: egress broker', () => {
  it('is off by default: no broker port, key or URL anywhere', async () => {
    const objs = await renderChart(helm!, 'mcp-v8', 'mcp', {});
    expect(JSON.stringify(objs)).not.toMatch(/EGRESS/);
  });

  it('lets runner pods reach the gateway on the broker port only, and tells them where it is', async () => {
    const objs = await renderChart(helm!, 'mcp-v8', 'mcp', ON);
    const rules = runnerEgress(objs);
    const broker = rules.filter((r) => r.to.some((t) => 'podSelector' in t && !('namespaceSelector' in t)));
    expect(broker).toEqual([
      {
        to: [
          {
            podSelector: {
              matchLabels: {
                'app.kubernetes.io/name': 'mcp-v8',
                'app.kubernetes.io/instance': 'mcp-v8',
                'app.kubernetes.io/component': 'gateway',
              },
            },
          },
        ],
        ports: [{ port: 8090, protocol: 'TCP' }],
      },
    ]);
    expect(JSON.stringify(rules)).not.toContain('0.0.0.0/0');
    const podEnv = JSON.parse(
      env(objs, 'mcp-v8-controller').get('MCP_V8_RUNNER_POD_ENV')!.value!,
    ) as EnvVar[];
    expect(podEnv).toContainEqual({ name: 'MCP_V8_EGRESS_URL', value: 'http://mcp-v8-gateway.mcp.svc:8090' });
    expect(JSON.stringify(podEnv)).not.toContain('EGRESS_KEY');
  });

  it('gives the key to the gateway and the controller from its Secret, and mounts the broker’s files', async () => {
    const objs = await renderChart(helm!, 'mcp-v8', 'mcp', ON);
    const keyRef = { secretKeyRef: { name: 'egress-key', key: 'key' } };
    for (const d of ['mcp-v8-gateway', 'mcp-v8-controller'])
      expect(env(objs, d).get('MCP_V8_EGRESS_KEY')?.valueFrom).toEqual(keyRef);
    const gateway = env(objs, 'mcp-v8-gateway');
    expect(gateway.get('MCP_V8_EGRESS_PORT')?.value).toBe('8090');
    expect(gateway.get('MCP_V8_POLICIES_JSON')?.value).toBe('/etc/mcp-v8/egress/policies.json');
    expect(gateway.get('MCP_V8_FETCH_HEADER_CONFIG')?.value).toBe('/etc/mcp-v8/egress-headers/rules.json');
    const policies = objs.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name === 'mcp-v8-egress-policies',
    )!;
    expect(JSON.parse((policies.data as Record<string, string>)['policies.json']!)).toEqual(
      ON.egress.policies,
    );
    const service = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'mcp-v8-gateway')!;
    expect((service.spec as { ports: unknown[] }).ports).toContainEqual({
      name: 'egress',
      port: 8090,
      targetPort: 'egress',
    });
  });

  it('refuses to render without the key Secret', async () => {
    await expect(renderChart(helm!, 'mcp-v8', 'mcp', { egress: { enabled: true } })).rejects.toThrow(
      /egress.keySecret.name is required/,
    );
  });
});
