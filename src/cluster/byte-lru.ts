/**
 * Which entries a size-bounded cache keeps: ids with their size in bytes, least recently used
 * first. Pure bookkeeping: the caller stores and deletes the entries themselves.
 */
export class ByteLru {
  /** Map iteration order is insertion order, so re-inserting an id makes it the most recent. */
  readonly #entries = new Map<string, number>();
  #bytes = 0;

  /** The bound on the sum of entry sizes. */
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0))
      throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  /** Sum of the sizes of the entries kept. */
  get bytes(): number {
    return this.#bytes;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Marks `id` as just used; false when it is not kept. */
  touch(id: string): boolean {
    const size = this.#entries.get(id);
    if (size === undefined) return false;
    this.#entries.delete(id);
    this.#entries.set(id, size);
    return true;
  }

  /**
   * Keeps `id` as the most recently used entry, then drops the least recently used ones until
   * the bound holds (`id` itself only when it alone exceeds it).
   * @returns the ids dropped, for the caller to delete.
   */
  add(id: string, bytes: number): string[] {
    this.delete(id);
    this.#entries.set(id, bytes);
    this.#bytes += bytes;
    const dropped: string[] = [];
    for (const [old, size] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(old);
      this.#bytes -= size;
      dropped.push(old);
    }
    return dropped;
  }

  delete(id: string): void {
    const size = this.#entries.get(id);
    if (size === undefined) return;
    this.#entries.delete(id);
    this.#bytes -= size;
  }
}
