/**
 * Builds the MCP server (one per MCP session: the SDK's Server holds per-connection state) with
 * every tool registered from its module.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  LoggingLevelSchema,
  SetLevelRequestSchema,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';
import type { OutputLevel } from '../../core/index.ts';
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
  const ctx: ToolContext = { service, namespace, follow: consoleNotifier(server, service) };
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

const MCP_LEVEL: Record<OutputLevel, LoggingLevel> = {
  debug: 'debug',
  log: 'info',
  info: 'info',
  warn: 'warning',
  error: 'error',
};
const SEVERITY = new Map(LoggingLevelSchema.options.map((level, i) => [level, i]));

/**
 * Console lines of the executions this session started, as `notifications/message`, once the
 * client has asked for logging (`logging/setLevel`) and at or above the level it chose.
 */
function consoleNotifier(server: McpServer, service: ExecutionService): (executionId: string) => void {
  let threshold: LoggingLevel | undefined;
  server.server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    threshold = request.params.level;
    return {};
  });
  return (executionId) => {
    service.follow(executionId, {
      line: (level, text) => {
        const mcpLevel = MCP_LEVEL[level];
        if (threshold === undefined || SEVERITY.get(mcpLevel)! < SEVERITY.get(threshold)!) return;
        server.server
          .sendLoggingMessage({
            level: mcpLevel,
            logger: `execution/${executionId}`,
            data: { execution_id: executionId, level, text },
          })
          .catch(() => {
            // The session went away; the execution's output stays readable with get_execution_output.
          });
      },
      end: () => {},
    });
  };
}
