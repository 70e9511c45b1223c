/**
 * Builds the MCP server (one per MCP session: the SDK's Server holds per-connection state) with
 * every tool registered from its module.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ExecutionService } from '../execution-service.ts';
import { cancelExecution } from './tools/cancel-execution.ts';
import { getExecutionOutput } from './tools/get-execution-output.ts';
import { getExecution } from './tools/get-execution.ts';
import { listExecutions } from './tools/list-executions.ts';
import { runJs } from './tools/run-js.ts';
import type { AnyTool, ToolContext } from './tools/tool.ts';

/** Every tool of the embedded server, in the order clients list them. */
export const TOOLS: readonly AnyTool[] = [
  runJs,
  getExecution,
  getExecutionOutput,
  cancelExecution,
  listExecutions,
];

export const SERVER_INFO = { name: 'mcp-v8', version: '0.1.0' };

export function createMcpServer(service: ExecutionService, namespace = 'default'): McpServer {
  const server = new McpServer(SERVER_INFO, {
    capabilities: { tools: {}, logging: {} },
    instructions:
      'Run JavaScript/TypeScript in sandboxed V8 isolates: run_js returns an execution_id at once; poll ' +
      'get_execution for the result and get_execution_output for console output.',
  });
  const ctx: ToolContext = { service, namespace };
  for (const tool of TOOLS) register(server, tool, ctx);
  return server;
}

function register(server: McpServer, tool: AnyTool, ctx: ToolContext): void {
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.inputSchema,
      outputSchema: tool.outputSchema,
      annotations: tool.annotations,
    },
    // The SDK has already parsed args with inputSchema.
    (args: unknown) => tool.handler(args as never, ctx),
  );
}
