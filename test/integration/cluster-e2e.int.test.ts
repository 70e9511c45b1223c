// The MCP end-to-end suite (test/e2e/mcp-e2e.suite.ts, what scripts/e2e-kind.sh runs in kind)
// against the harness's cluster deployment: chart RBAC, two controllers, the gateway and runner
// pods as local processes, real NATS JetStream, S3 (versitygw) and kube-apiserver.
import { afterAll, beforeAll, inject } from 'vitest';
import { startClusterDeployment, type ClusterDeployment } from '../harness/cluster-deployment.ts';
import { describeMcpEndToEnd } from '../e2e/mcp-e2e.suite.ts';

let deployment: ClusterDeployment | undefined;

beforeAll(async () => {
  deployment = await startClusterDeployment({ services: inject('services'), replicas: 2 });
}, 240_000);

afterAll(async () => {
  await deployment?.close();
}, 60_000);

describeMcpEndToEnd(() => ({ url: deployment!.gatewayUrl, token: deployment!.tenants[0]!.token }));
