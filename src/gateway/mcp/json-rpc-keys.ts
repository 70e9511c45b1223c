/**
 * Keys of JSON-RPC request ids, so the requests of a session in flight can be told apart: a
 * request's id in a POST body, the id a response answers, and the ids a client cancels.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Most messages of one POST body looked at (the SDK refuses larger batches anyway). */
const MAX_MESSAGES = 100;

const keyOf = (id: unknown): string | undefined =>
  typeof id === 'string' || typeof id === 'number' ? `${typeof id}:${String(id).slice(0, 200)}` : undefined;

function messages(body: unknown): Array<Record<string, unknown>> {
  const all = Array.isArray(body) ? body.slice(0, MAX_MESSAGES) : [body];
  return all.filter((m): m is Record<string, unknown> => m !== null && typeof m === 'object');
}

/** Keys of the requests (messages with a method and an id) in a POST body. */
export function requestKeys(body: unknown): string[] {
  return messages(body)
    .filter((m) => typeof m.method === 'string')
    .map((m) => keyOf(m.id))
    .filter((k): k is string => k !== undefined);
}

/** Keys of the requests a POST body cancels (`notifications/cancelled`): they get no response. */
export function cancelledKeys(body: unknown): string[] {
  return messages(body)
    .filter((m) => m.method === 'notifications/cancelled')
    .map((m) => keyOf((m.params as { requestId?: unknown } | undefined)?.requestId))
    .filter((k): k is string => k !== undefined);
}

/** Key of the request a response answers. */
export function responseKey(message: JSONRPCMessage): string | undefined {
  return keyOf((message as { id?: unknown }).id);
}
