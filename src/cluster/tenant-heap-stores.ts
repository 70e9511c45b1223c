/**
 * Heaps per tenant: in cluster mode each namespace keeps its heaps under its own S3 key prefix
 * (`<prefix><namespace>/<id>.json`), so a tenant can neither resume nor probe another tenant's
 * heaps, even knowing their ids. The gateway (existence checks), the controller and the runner
 * pods all reach heaps through this one mapping.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { HeapStore } from '../core/index.ts';
import { S3HeapStore } from './heap-store.ts';
import { s3Client, type S3Settings } from './s3-client.ts';
import { subjectToken } from './nats-tokens.ts';

export interface TenantHeapStoresOptions {
  client: S3Client;
  bucket: string;
  /** Prefix before the namespace, e.g. `heaps/` (default none). */
  prefix?: string;
}

/** One HeapStore per namespace over a shared bucket; stores are made on first use and kept. */
export class TenantHeapStores {
  readonly #opts: TenantHeapStoresOptions;
  readonly #stores = new Map<string, HeapStore>();

  constructor(opts: TenantHeapStoresOptions) {
    this.#opts = opts;
  }

  /** Over the bucket and prefix of `s3`, with the shared S3 client settings. */
  static fromSettings(s3: S3Settings): TenantHeapStores {
    return new TenantHeapStores({ client: s3Client(s3), bucket: s3.bucket, prefix: s3.prefix });
  }

  /** The heaps of `namespace` (a DNS label; anything else is escaped, never used raw). */
  forNamespace(namespace: string): HeapStore {
    let store = this.#stores.get(namespace);
    if (!store) {
      store = new S3HeapStore({
        client: this.#opts.client,
        bucket: this.#opts.bucket,
        prefix: `${this.#opts.prefix ?? ''}${subjectToken(namespace, 'namespace')}/`,
      });
      // Namespaces are few; the bound only keeps a misbehaving caller from growing the map.
      if (this.#stores.size >= 10_000) this.#stores.clear();
      this.#stores.set(namespace, store);
    }
    return store;
  }
}
