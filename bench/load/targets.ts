/**
 * The two ways the load benchmark runs a cell on a server, each "submit, then wait for it to
 * finish", as an agent would:
 *   - http: `POST /api/exec?wait=<s>` — one request that answers once the execution finished;
 *   - mcp:  `tools/call run_js` over Streamable HTTP, then `get_execution` until the status is
 *     final: by default with `wait_seconds`, so the server answers when the execution ends (one
 *     call, as an agent using that argument makes); with `waitSeconds` 0, polled as the seed's
 *     walkthrough does, the pause doubling from `pollMs` up to `maxPollMs` (5 → 100 ms). A
 *     fixed short pause would not do: under overload every queued cell polls, and the polls
 *     themselves become much of the server's load.
 * Both count the HTTP requests they make (the table's "HTTP Req/s").
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, request } from 'undici';
import type { Attempt } from './arrival.ts';

/** One cell to run: stateless when neither heap nor session is set. */
export interface Cell {
  code: string;
  heap?: string;
  session?: string;
}

export interface CellResult extends Attempt {
  /** Stateful mode: the heap the completed cell committed. */
  heap?: string;
}

export interface Target {
  readonly name: 'http' | 'mcp';
  /** HTTP requests made so far. */
  readonly requests: number;
  run(cell: Cell, signal: AbortSignal): Promise<CellResult>;
  close(): Promise<void>;
}

interface ExecutionView {
  execution_id: string;
  status: string;
  heap?: string;
  error?: { reason?: string };
}

const FINAL = new Set(['completed', 'failed', 'cancelled', 'timed_out']);

/** A finished execution as an attempt: only `completed` counts as a success. */
function outcome(view: ExecutionView): CellResult {
  if (view.status === 'completed') return { ok: true, heap: view.heap };
  return { ok: false, error: view.error?.reason ? `${view.status}: ${view.error.reason}` : view.status };
}

const bodyOf = (cell: Cell) => ({
  code: cell.code,
  ...(cell.heap !== undefined && { heap: cell.heap }),
  ...(cell.session !== undefined && { session: cell.session }),
});

/**
 * The plain HTTP API through undici's `request` on a keep-alive agent of its own: about a third
 * of `fetch`'s CPU per call, which matters because the generator shares the machine's cores
 * with the server it measures.
 */
export class HttpTarget implements Target {
  readonly name = 'http';
  requests = 0;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #agent = new Agent({ keepAliveTimeout: 60_000 });

  /** `waitSeconds`: the server-side wait, at least as long as a request may take in the run. */
  constructor(baseUrl: string, waitSeconds: number, token?: string) {
    this.#url = `${baseUrl}/api/exec?wait=${Math.min(300, Math.max(1, Math.ceil(waitSeconds)))}`;
    this.#headers = {
      'content-type': 'application/json',
      ...(token !== undefined && { authorization: `Bearer ${token}` }),
    };
  }

  async run(cell: Cell, signal: AbortSignal): Promise<CellResult> {
    this.requests++;
    const res = await request(this.#url, {
      method: 'POST',
      headers: this.#headers,
      body: JSON.stringify(bodyOf(cell)),
      signal,
      dispatcher: this.#agent,
    });
    if (res.statusCode !== 200) {
      // 202 means the wait ran out before the execution finished: not a success.
      await res.body.dump();
      return { ok: false, error: `http ${res.statusCode}` };
    }
    return outcome((await res.body.json()) as ExecutionView);
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

export interface McpTargetOptions {
  /** MCP sessions (connections) calls are spread over, round-robin. */
  clients: number;
  /** `wait_seconds` of each get_execution call; 0 polls instead. */
  waitSeconds: number;
  /** First pause between get_execution polls, ms; it doubles up to maxPollMs. */
  pollMs: number;
  maxPollMs: number;
  token?: string;
}

export class McpTarget implements Target {
  readonly name = 'mcp';
  requests = 0;
  readonly #clients: Client[];
  readonly #waitSeconds: number;
  readonly #pollMs: number;
  readonly #maxPollMs: number;
  #next = 0;

  private constructor(clients: Client[], opts: McpTargetOptions) {
    this.#clients = clients;
    this.#waitSeconds = opts.waitSeconds;
    this.#pollMs = opts.pollMs;
    this.#maxPollMs = Math.max(opts.pollMs, opts.maxPollMs);
  }

  static async connect(baseUrl: string, opts: McpTargetOptions): Promise<McpTarget> {
    const headers = opts.token === undefined ? undefined : { authorization: `Bearer ${opts.token}` };
    const clients = await Promise.all(
      Array.from({ length: opts.clients }, async () => {
        const client = new Client({ name: 'mcp-v8-load-bench', version: '1.0.0' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers } }),
        );
        return client;
      }),
    );
    return new McpTarget(clients, opts);
  }

  async run(cell: Cell, signal: AbortSignal): Promise<CellResult> {
    const client = this.#clients[this.#next++ % this.#clients.length]!;
    // The run's grace period, not the SDK's 60 s default, decides when a call is given up.
    const options = { signal, timeout: 3_600_000 };
    this.requests++;
    const started = await client.callTool({ name: 'run_js', arguments: bodyOf(cell) }, undefined, options);
    if (started.isError) return { ok: false, error: toolErrorCode(started.content) };
    let view = started.structuredContent as ExecutionView;
    const args = {
      execution_id: view.execution_id,
      ...(this.#waitSeconds > 0 && { wait_seconds: this.#waitSeconds }),
    };
    // Polled at once first: a trivial cell is often done by the time run_js has answered.
    let pause = this.#pollMs;
    while (!FINAL.has(view.status)) {
      this.requests++;
      const got = await client.callTool({ name: 'get_execution', arguments: args }, undefined, options);
      if (got.isError) return { ok: false, error: toolErrorCode(got.content) };
      view = got.structuredContent as ExecutionView;
      if (FINAL.has(view.status) || this.#waitSeconds > 0) continue;
      await sleep(pause, signal);
      pause = Math.min(pause * 2, this.#maxPollMs);
    }
    return outcome(view);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#clients.map((c) => c.close()));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    // The listener is removed again: thousands of polls share the run's one signal.
    const onAbort = () => (clearTimeout(timer), reject(signal.reason as Error));
    const timer = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The stable code of a tool error (`{"error":{"code":…}}` in its text), for grouping. */
function toolErrorCode(content: unknown): string {
  const text = Array.isArray(content) ? (content[0] as { text?: string } | undefined)?.text : undefined;
  try {
    return (JSON.parse(text ?? '') as { error?: { code?: string } }).error?.code ?? 'tool error';
  } catch {
    return 'tool error';
  }
}
