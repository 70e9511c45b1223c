/** The shape each tool module exports; `mcp-server.ts` registers them all in a loop. */
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { Mcpv8Error } from '../../../core/index.ts';
import type { ExecutionService } from '../../execution-service.ts';
import type { SessionService } from '../../session-service.ts';

export interface ToolContext {
  service: ExecutionService;
  /** Sessions and heap tags; present only in stateful mode (the tools using it are listed only then). */
  sessions?: SessionService;
  /** Tenant of the caller. */
  namespace: string;
  /** Streams an execution's console lines to this MCP session (as logging notifications, if asked for). */
  follow?: (executionId: string) => void;
}

export interface ToolDefinition<In extends z.ZodRawShape, Out extends z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  inputSchema: In;
  outputSchema: Out;
  annotations: ToolAnnotations;
  /** Whether a call may be made as an MCP task (spec 2025-11-25). */
  taskSupport?: 'optional';
  /** `signal`: aborted when the client cancels the request or goes away. */
  handler: (
    args: z.infer<z.ZodObject<In>>,
    ctx: ToolContext,
    signal?: AbortSignal,
  ) => Promise<CallToolResult>;
}

/** A tool with its types erased, as the registration loop sees it. */
export interface AnyTool {
  name: string;
  title: string;
  description: string;
  inputSchema: z.ZodRawShape;
  outputSchema: z.ZodRawShape;
  annotations: ToolAnnotations;
  taskSupport?: 'optional';
  // Method syntax: parameters compare bivariantly, so every ToolDefinition fits.
  handler(args: never, ctx: ToolContext, signal?: AbortSignal): Promise<CallToolResult>;
}

/** The context's SessionService. @throws MCPV8_ERR_SESSION_STATELESS when the server keeps no sessions */
export function sessionsOf(ctx: ToolContext, tool: string): SessionService {
  if (!ctx.sessions) throw new Mcpv8Error('MCPV8_ERR_SESSION_STATELESS', [tool]);
  return ctx.sessions;
}
