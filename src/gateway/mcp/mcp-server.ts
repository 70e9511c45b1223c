/**
 * Builds the MCP server (one per MCP session: the SDK's Server holds per-connection state) with
 * every tool registered from its module. McpServer lists the tools (JSON Schema from zod); calls
 * go through our own tools/call handler, because `run_js` answers at once when called plainly and
 * creates an MCP task (backed by the execution) when the call is task-augmented — a combination
 * the SDK's experimental registerToolTask cannot express (it makes plain calls block).
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  GetTaskPayloadRequestSchema,
  LoggingLevelSchema,
  SetLevelRequestSchema,
  type CallToolResult,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { Mcpv8Error } from '../../core/index.ts';
import { ExecutionTaskStore, taskOf } from './execution-task-store.ts';
import { toolError } from './tool-result.ts';
import type { OutputLevel } from '../../core/index.ts';
import type { ExecutionService } from '../execution-service.ts';
import { cancelExecution } from './tools/cancel-execution.ts';
import { getExecutionOutput } from './tools/get-execution-output.ts';
import { getExecution } from './tools/get-execution.ts';
import { listExecutions } from './tools/list-executions.ts';
import { runJs, runJsStateful } from './tools/run-js.ts';
import type { SessionService } from '../session-service.ts';
import { deleteHeapTags } from './tools/delete-heap-tags.ts';
import { getHeapTags } from './tools/get-heap-tags.ts';
import { listSessionSnapshots } from './tools/list-session-snapshots.ts';
import { listSessions } from './tools/list-sessions.ts';
import { queryHeapsByTags } from './tools/query-heaps-by-tags.ts';
import { setHeapTags } from './tools/set-heap-tags.ts';
import type { AnyTool, ToolContext } from './tools/tool.ts';

const EXECUTION_TOOLS: readonly AnyTool[] = [
  getExecution,
  getExecutionOutput,
  cancelExecution,
  listExecutions,
];
/** Sessions and heap tags: listed only by a stateful server. */
const SESSION_TOOLS: readonly AnyTool[] = [
  listSessions,
  listSessionSnapshots,
  getHeapTags,
  setHeapTags,
  deleteHeapTags,
  queryHeapsByTags,
];

/**
 * The tools a server lists, in order: a stateless server has no session tools and its run_js
 * takes no heap, session or tags (an agent is not offered what would only be refused).
 */
export function toolsFor(mode: { stateful: boolean; sessions: boolean }): readonly AnyTool[] {
  return [
    mode.stateful ? runJsStateful : runJs,
    ...EXECUTION_TOOLS,
    ...(mode.stateful && mode.sessions ? SESSION_TOOLS : []),
  ];
}

/** Every tool of a stateful server (the most any server lists), in the order clients list them. */
export const TOOLS: readonly AnyTool[] = toolsFor({ stateful: true, sessions: true });

export const SERVER_INFO = { name: 'mcp-v8', version: '0.1.0' };

/**
 * One MCP server over `service`. `sessions` (stateful mode) adds the session and heap-tag tools;
 * the tool list and run_js's arguments follow the mode of this server.
 */
export function createMcpServer(
  service: ExecutionService,
  namespace = 'default',
  sessions?: SessionService,
): McpServer {
  const tools = toolsFor({ stateful: service.stateful, sessions: sessions !== undefined });
  const taskStore = new ExecutionTaskStore(service, namespace);
  const server = new McpServer(SERVER_INFO, {
    capabilities: {
      tools: {},
      logging: {},
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
    },
    taskStore,
    instructions:
      'Run JavaScript/TypeScript in sandboxed V8 isolates: run_js returns an execution_id at once; poll ' +
      'get_execution for the result (or pass it wait_seconds to wait for the end in one call) and ' +
      'get_execution_output for console output.' +
      (service.stateful
        ? ' State persists: pass the heap a completed execution reports as run_js heap to continue from it.'
        : ''),
  });
  const ctx: ToolContext = { service, sessions, namespace, follow: consoleNotifier(server, service) };
  for (const tool of tools) register(server, tool, ctx);
  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = tools.find((t) => t.name === request.params.name);
    if (!tool)
      return toolError(new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`no tool named ${request.params.name}`]));
    const parsed = z.object(tool.inputSchema).safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join('.') || 'arguments';
      return toolError(
        new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`${where}: ${issue?.message ?? 'invalid'}`]),
      );
    }
    const result: CallToolResult = await tool.handler(parsed.data as never, ctx, extra.signal);
    if (request.params.task && tool.name === runJs.name && !result.isError) {
      // A task-augmented call answers with the task; the execution id is the task id.
      const record = await service.get(
        namespace,
        (result.structuredContent as { execution_id: string }).execution_id,
      );
      return { task: taskOf(record) };
    }
    return result;
  });
  // The SDK's tasks/result re-reads the task every 250 ms; ours wakes when the execution ends.
  server.server.setRequestHandler(GetTaskPayloadRequestSchema, (request, extra) =>
    taskStore.awaitTaskResult(request.params.taskId, extra.signal),
  );
  return server;
}

function register(server: McpServer, tool: AnyTool, ctx: ToolContext): void {
  const registered = server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: tool.inputSchema,
      outputSchema: tool.outputSchema,
      annotations: tool.annotations,
    },
    // Reached only through McpServer's own tools/call handler, which createMcpServer replaces.
    (args: unknown) => tool.handler(args as never, ctx),
  );
  if (tool.taskSupport) registered.execution = { taskSupport: tool.taskSupport };
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
