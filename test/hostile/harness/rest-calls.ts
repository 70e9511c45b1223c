/** The REST calls the suite makes on behalf of a client: submit and wait, read a record, read output. */
import type { ExecutionView, OutputPageView } from '../../../src/gateway/execution-view.ts';
import type { HostileServer } from './hostile-server.ts';

export type { ExecutionView, OutputPageView };

export interface ExecArgs {
  code: string;
  language?: 'javascript' | 'typescript';
  execution_timeout_secs?: number;
  heap_memory_max_mb?: number;
  heap?: string;
  session?: string;
}

/** Largest wait the REST API takes, seconds. */
const MAX_WAIT_SECS = 300;

/** A call that did not go as a client of a healthy server expects. */
export class UnexpectedAnswer extends Error {}

/**
 * POST /api/exec?wait=… and the execution's record once it ended; throws UnexpectedAnswer when
 * the call is refused or the execution is still not finished after `waitSecs`.
 */
export async function execAndWait(
  server: HostileServer,
  args: ExecArgs,
  opts: { token?: string; waitSecs: number },
): Promise<ExecutionView> {
  const wait = Math.min(MAX_WAIT_SECS, Math.ceil(opts.waitSecs));
  const res = await server.request('POST', `/api/exec?wait=${wait}`, {
    token: opts.token,
    body: args,
    timeoutMs: (wait + 15) * 1000,
  });
  if (res.status === 202) {
    const view = res.json as ExecutionView;
    throw new UnexpectedAnswer(`still ${view.status} after ${wait} s (execution ${view.execution_id})`);
  }
  if (res.status !== 200)
    throw new UnexpectedAnswer(`POST /api/exec answered ${res.status}: ${res.text.slice(0, 500)}`);
  return res.json as ExecutionView;
}

/**
 * The whole output of an execution, paged by bytes: a page holds at most 1 MiB or 10,000 lines,
 * and an execution keeps at most 1 MiB and 100,000 lines, so 16 pages always reach its end.
 */
export async function readAllOutput(
  server: HostileServer,
  id: string,
  opts: { token?: string; maxPages?: number } = {},
): Promise<{ text: string; pages: OutputPageView[] }> {
  const pages: OutputPageView[] = [];
  let offset = 0;
  for (let i = 0; i < (opts.maxPages ?? 16); i++) {
    const res = await server.request(
      'GET',
      `/api/executions/${id}/output?byte_offset=${offset}&byte_limit=${1 << 20}`,
      { token: opts.token },
    );
    if (res.status !== 200)
      throw new UnexpectedAnswer(`output of ${id} answered ${res.status}: ${res.text.slice(0, 300)}`);
    const page = res.json as OutputPageView;
    pages.push(page);
    if (!page.has_more || page.next_byte_offset <= offset) break;
    offset = page.next_byte_offset;
  }
  return { text: pages.map((p) => p.data).join(''), pages };
}

/** One line describing how an execution ended, for assertion messages. */
export function describeEnd(v: ExecutionView): string {
  const parts = [`status=${v.status}`];
  if (v.error)
    parts.push(
      `reason=${v.error.reason}`,
      `name=${v.error.name.slice(0, 80)}`,
      `message=${JSON.stringify(v.error.message.slice(0, 200))}`,
    );
  if (v.result !== undefined)
    parts.push(
      `result=${JSON.stringify(v.result.slice(0, 120))}${v.result.length > 120 ? `…(${v.result.length} chars)` : ''}`,
    );
  if (v.result_type) parts.push(`type=${v.result_type}`);
  if (v.result_truncated) parts.push('result_truncated');
  if (v.output_truncated) parts.push('output_truncated');
  if (v.output_bytes !== undefined) parts.push(`output_bytes=${v.output_bytes}`);
  if (v.duration_ms !== undefined) parts.push(`duration_ms=${Math.round(v.duration_ms)}`);
  if (v.heap) parts.push('heap committed');
  return parts.join(' ');
}
