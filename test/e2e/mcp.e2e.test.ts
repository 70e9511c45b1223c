// `npm run test:e2e`: the MCP end-to-end suite against the gateway named by the environment:
// MCP_V8_E2E_URL (base URL; MCP at /mcp) and MCP_V8_E2E_TOKEN (bearer token, when the gateway
// needs one). scripts/e2e-kind.sh sets both for a kind cluster.
import { describe, it } from 'vitest';
import { describeMcpEndToEnd } from './mcp-e2e.suite.ts';

const url = process.env.MCP_V8_E2E_URL;
const token = process.env.MCP_V8_E2E_TOKEN || undefined;

if (url) {
  describeMcpEndToEnd(() => ({ url, token }));
} else {
  describe('MCP end to end', () => {
    it.skip('skipped: MCP_V8_E2E_URL is not set (the base URL of a running mcp-v8 gateway)', () => {});
  });
}
