/**
 * In-memory cache of downloaded module sources, so a module imported by many cells (or many
 * sessions) is downloaded once, and a session can later replay a module by its content hash.
 */
import { Mcpv8Error } from '../../core/errors.ts';
import type { ModuleSource } from './module-source-loader.ts';

/** Bounds of a {@link ModuleCache}; the least recently used entries go first. */
export interface ModuleCacheOptions {
  /** Most entries kept; default 1000. */
  readonly maxEntries?: number;
  /** Most source bytes (UTF-8 of `source`, summed over entries) kept; default 64 MiB. */
  readonly maxBytes?: number;
}

interface Entry {
  readonly source: ModuleSource;
  readonly bytes: number;
}

/**
 * LRU map from the requested absolute module URL (as resolved, before redirects) to its
 * {@link ModuleSource}, bounded by entry count and total bytes, with a lookup by SHA-256.
 *
 * Synchronous and without I/O; not shared across threads. The same source may be stored
 * under several URLs (e.g. `npm:x@1` and the CDN URL it resolves to); each counts separately.
 */
export class ModuleCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  // Map iteration order is insertion order: re-inserting on use keeps the oldest first.
  readonly #entries = new Map<string, Entry>();
  readonly #urlsBySha = new Map<string, Set<string>>();
  #bytes = 0;

  /** @throws {Mcpv8Error} MCPV8_ERR_CONFIG_INVALID when a bound is not a positive integer. */
  constructor(opts: ModuleCacheOptions = {}) {
    this.maxEntries = positiveInteger('maxEntries', opts.maxEntries ?? 1000);
    this.maxBytes = positiveInteger('maxBytes', opts.maxBytes ?? 64 * 1024 * 1024);
  }

  /** Number of entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** Total UTF-8 bytes of the cached sources. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The source cached for `url`, marking it most recently used. */
  get(url: string): ModuleSource | undefined {
    const entry = this.#entries.get(url);
    if (entry === undefined) return undefined;
    this.#entries.delete(url);
    this.#entries.set(url, entry);
    this.#index(url, entry.source.sha256);
    return entry.source;
  }

  /** True when `url` is cached; does not change recency. */
  has(url: string): boolean {
    return this.#entries.has(url);
  }

  /**
   * The most recently used source whose downloaded bytes hash to `sha256` (lower-case hex),
   * marking it most recently used.
   */
  bySha(sha256: string): ModuleSource | undefined {
    const urls = this.#urlsBySha.get(sha256.toLowerCase());
    if (urls === undefined) return undefined;
    // Sets keep insertion order and #index re-inserts on every use: the last is the most recent.
    let last: string | undefined;
    for (const url of urls) last = url;
    return last === undefined ? undefined : this.get(last);
  }

  /**
   * Stores `source` under `url` (replacing any previous entry) and evicts least recently used
   * entries until both bounds hold. A source larger than `maxBytes` on its own is not stored.
   */
  set(url: string, source: ModuleSource): void {
    this.delete(url);
    const bytes = Buffer.byteLength(source.source, 'utf8');
    if (bytes > this.maxBytes) return;
    this.#entries.set(url, { source, bytes });
    this.#bytes += bytes;
    this.#index(url, source.sha256);
    for (const [oldest] of this.#entries) {
      if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  /** Removes the entry for `url`; true when there was one. */
  delete(url: string): boolean {
    const entry = this.#entries.get(url);
    if (entry === undefined) return false;
    this.#entries.delete(url);
    this.#bytes -= entry.bytes;
    const sha = entry.source.sha256.toLowerCase();
    const urls = this.#urlsBySha.get(sha);
    urls?.delete(url);
    if (urls?.size === 0) this.#urlsBySha.delete(sha);
    return true;
  }

  /** Removes every entry. */
  clear(): void {
    this.#entries.clear();
    this.#urlsBySha.clear();
    this.#bytes = 0;
  }

  #index(url: string, sha256: string): void {
    const sha = sha256.toLowerCase();
    let urls = this.#urlsBySha.get(sha);
    if (urls === undefined) this.#urlsBySha.set(sha, (urls = new Set()));
    urls.delete(url);
    urls.add(url);
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `module cache ${name} must be a positive integer, got ${value}`,
    ]);
  }
  return value;
}
