/**
 * The one place HTTP errors are shaped: `{ error: { code, message } }` with the catalogue's
 * status. Fastify's own 4xx errors (bad JSON, body too large, wrong content type) are given
 * catalogue codes; anything unexpected is a 500 that reveals nothing internal.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Mcpv8Error, isMcpv8Error } from '../../core/index.ts';

export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: FastifyError, req, reply) => replyWithError(err, req, reply, bodyLimit));
  app.setNotFoundHandler((req, reply) => {
    const e = new Mcpv8Error('MCPV8_ERR_ROUTE_NOT_FOUND', [req.method, req.url.split('?')[0]]);
    return reply.status(404).send({ error: { code: e.code, message: e.message } });
  });
}

/**
 * Answers `err` as a catalogue error. Also Fastify's `frameworkErrors` hook: errors the router
 * raises before any handler (a malformed URL, a path parameter over its length) go through here.
 */
export function replyWithError(
  err: FastifyError,
  req: FastifyRequest,
  reply: FastifyReply,
  bodyLimit: number,
): FastifyReply {
  const e = toMcpv8Error(err, bodyLimit, req.headers['content-type']);
  if (e.statusCode >= 500 && !e.retryable) req.log.error({ err }, 'request failed');
  // A retryable refusal says when to come back (the API server's own hint when it gave one).
  if (e.retryable) {
    const after = e.details.retryAfterSeconds;
    reply.header('retry-after', String(typeof after === 'number' ? Math.ceil(after) : 1));
  }
  return reply.status(e.statusCode).send({ error: { code: e.code, message: e.message, ...e.details } });
}

function toMcpv8Error(err: FastifyError, bodyLimit: number, contentType: string | undefined): Mcpv8Error {
  if (isMcpv8Error(err)) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new Mcpv8Error('MCPV8_ERR_BODY_TOO_LARGE', [bodyLimit]);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new Mcpv8Error('MCPV8_ERR_CONTENT_TYPE', [contentType ?? '(none)']);
  }
  if (err.validation || (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)) {
    return new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [err.message]);
  }
  return new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', ['see the server log']);
}
