/**
 * Static bearer tokens for the embedded server's HTTP endpoints (health probes stay open).
 * Tokens are compared in constant time and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Mcpv8Error } from '../../core/index.ts';

const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

export function installBearerAuth(app: FastifyInstance, tokens: readonly string[]): void {
  // Compare digests: equal lengths for timingSafeEqual, and no length leak.
  const digests = tokens.map(digest);
  app.addHook('onRequest', async (req) => {
    if (OPEN_PATHS.has(req.url.split('?')[0]!)) return;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const presented = m ? digest(m[1]!) : undefined;
    if (!presented || !digests.some((d) => timingSafeEqual(d, presented))) {
      throw new Mcpv8Error('MCPV8_ERR_AUTH_REQUIRED');
    }
  });
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
