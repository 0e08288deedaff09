// The one place that maps domain error kinds to HTTP status codes. Bodies are plain text, as Consul's.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorKind, isMeshpeerError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { redactUrl } from './params.js';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  'not-found': 404,
  conflict: 409,
  'permission-denied': 403,
  unavailable: 503,
  'too-large': 413,
};

export function errorHandler(logger: Logger) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void => {
    let status = 500;
    let message = 'internal error; see the server log';
    if (isMeshpeerError(err)) {
      status = STATUS[err.kind];
      message = err.message;
    } else if ('statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500) {
      status = err.statusCode;
      message = fastifyMessage(err as FastifyError);
    }
    if (status >= 500) logger.error({ err, method: req.method, url: redactUrl(req.url) }, 'request failed');
    void reply.code(status).type('text/plain; charset=utf-8').send(message);
  };
}

function fastifyMessage(err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `Request decode failed: ${err.message}`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `Request body too large: ${err.message}`;
    default:
      return err.message;
  }
}
