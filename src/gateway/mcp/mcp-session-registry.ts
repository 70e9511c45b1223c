/**
 * The open MCP sessions of both HTTP transports, and their bounds: a session closes after
 * `idleTimeoutMs` without a request; one client identity (an authenticated caller, else a remote
 * address) holds at most `maxPerClient` sessions and the server at most `maxSessions`. A new
 * session that would pass a bound first closes the least recently used idle session of the same
 * client (for the per-client bound) or of any client (for the total); only when every candidate
 * is busy (a request of it is in flight) is it refused with MCPV8_ERR_MCP_SESSION_LIMIT.
 *
 * A session is busy while one of its JSON-RPC requests is being answered (keyed by request id:
 * begun when the request arrives, ended when its response is sent, not when the client reads it).
 * An open GET stream (standalone SSE) is not activity: a client that only listens still expires,
 * so abandoned clients cannot hold slots forever.
 */
import { Mcpv8Error } from '../../core/index.ts';

export interface McpSessionLimits {
  /** Most sessions open at once, over both transports. */
  maxSessions: number;
  /** Most sessions one client identity may hold open. */
  maxPerClient: number;
  /** A session without a request for this long is closed, ms. */
  idleTimeoutMs: number;
}

/** What the registry knows of a session. */
interface Entry {
  readonly id: string;
  readonly client: string;
  readonly close: () => Promise<void>;
  /** Keys of the session's requests being answered now. */
  readonly inFlight: Set<string>;
  timer?: NodeJS.Timeout;
}

/** Why sessions ended (for tests and metrics). */
export interface McpSessionCounts {
  open: number;
  expired: number;
  evicted: number;
  refused: number;
}

export class McpSessionRegistry {
  readonly #limits: McpSessionLimits;
  /** Least recently used first: a session is moved to the end whenever a request of it ends. */
  readonly #entries = new Map<string, Entry>();
  readonly #perClient = new Map<string, number>();
  readonly #counts = { expired: 0, evicted: 0, refused: 0 };

  constructor(limits: McpSessionLimits) {
    this.#limits = limits;
  }

  get limits(): McpSessionLimits {
    return this.#limits;
  }

  counts(): McpSessionCounts {
    return { open: this.#entries.size, ...this.#counts };
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /**
   * Makes room for one more session of `client`, closing least recently used idle sessions as
   * needed. Call it right before {@link add}, with no await between.
   * @throws MCPV8_ERR_MCP_SESSION_LIMIT when every session that could make room is busy
   */
  admit(client: string): void {
    const { maxPerClient, maxSessions } = this.#limits;
    if ((this.#perClient.get(client) ?? 0) >= maxPerClient && !this.#evictIdle((e) => e.client === client)) {
      this.#counts.refused += 1;
      throw new Mcpv8Error(
        'MCPV8_ERR_MCP_SESSION_LIMIT',
        [`this client already has ${maxPerClient} sessions open, each with a request in flight`],
        { details: { limit: maxPerClient, scope: 'client' } },
      );
    }
    if (this.#entries.size >= maxSessions && !this.#evictIdle(() => true)) {
      this.#counts.refused += 1;
      throw new Mcpv8Error(
        'MCPV8_ERR_MCP_SESSION_LIMIT',
        [`the server has ${maxSessions} sessions open, each with a request in flight`],
        { details: { limit: maxSessions, scope: 'server' } },
      );
    }
  }

  /** Registers a session admitted with {@link admit}; it is idle until a request of it begins. */
  add(id: string, client: string, close: () => Promise<void>): void {
    const entry: Entry = { id, client, close, inFlight: new Set() };
    this.#entries.set(id, entry);
    this.#perClient.set(client, (this.#perClient.get(client) ?? 0) + 1);
    this.#arm(entry);
  }

  /** Request `key` of the session is being answered: it is busy and does not expire meanwhile. */
  begin(id: string, key: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    entry.inFlight.add(key);
    clearTimeout(entry.timer);
    entry.timer = undefined;
  }

  /** Request `key` was answered (idempotent): the session is idle again when none is left. */
  end(id: string, key: string): void {
    const entry = this.#entries.get(id);
    if (entry?.inFlight.delete(key)) this.touch(id);
  }

  /** The session was just used: it becomes the most recently used and its idle time restarts. */
  touch(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    if (entry.inFlight.size === 0) this.#arm(entry);
  }

  /** Forgets a session that closed (DELETE, stream closed, expiry, eviction, shutdown); idempotent. */
  remove(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#entries.delete(id);
    const left = (this.#perClient.get(entry.client) ?? 1) - 1;
    if (left > 0) this.#perClient.set(entry.client, left);
    else this.#perClient.delete(entry.client);
  }

  /** Closes every session (server shutdown). */
  async closeAll(): Promise<void> {
    const entries = [...this.#entries.values()];
    for (const e of entries) this.remove(e.id);
    await Promise.all(entries.map((e) => e.close().catch(() => undefined)));
  }

  #arm(entry: Entry): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      this.#counts.expired += 1;
      this.#drop(entry);
    }, this.#limits.idleTimeoutMs);
    // Expiry must not keep the process alive on shutdown.
    entry.timer.unref();
  }

  /** Closes the least recently used idle session passing `match`; false when there is none. */
  #evictIdle(match: (e: Entry) => boolean): boolean {
    for (const entry of this.#entries.values()) {
      if (entry.inFlight.size === 0 && match(entry)) {
        this.#counts.evicted += 1;
        this.#drop(entry);
        return true;
      }
    }
    return false;
  }

  #drop(entry: Entry): void {
    this.remove(entry.id);
    void entry.close().catch(() => undefined);
  }
}
