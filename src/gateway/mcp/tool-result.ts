/**
 * How every tool answers: success with `structuredContent` (and the same JSON as text for
 * clients without structured output); failure as an MCP tool error (`isError: true`) whose text
 * is the JSON `{"error":{"code","message","retryable"}}` — never a success holding an error
 * string. Errors carry no `structuredContent`: SDK clients validate it against the tool's
 * output schema even when `isError` is set, and an error is not an execution.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isMcpv8Error } from '../../core/index.ts';

export function toolOk(structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

export function toolError(err: unknown): CallToolResult {
  const error = isMcpv8Error(err)
    ? { code: err.code, message: err.message, retryable: err.retryable }
    : { code: 'MCPV8_ERR_SERVER_INTERNAL', message: 'internal error: see the server log', retryable: false };
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error }) }] };
}

/** Runs a tool body, turning any thrown error into a tool error result. */
export async function asTool(body: () => Promise<Record<string, unknown>>): Promise<CallToolResult> {
  try {
    return toolOk(await body());
  } catch (err) {
    if (!isMcpv8Error(err))
      process.emitWarning(`tool failed: ${err instanceof Error ? err.stack : String(err)}`);
    return toolError(err);
  }
}
