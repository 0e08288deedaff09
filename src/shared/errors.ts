// Domain errors: a kind the HTTP layer maps to a status code once, and a message a user can act on.
// Domains throw these; nothing below the HTTP/CLI layers knows about status codes.

export type ErrorKind =
  | 'invalid'
  | 'not-found'
  | 'conflict'
  | 'permission-denied'
  | 'unavailable'
  | 'too-large';

export class MeshpeerError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'MeshpeerError';
  }
}

export const invalid = (message: string): MeshpeerError => new MeshpeerError('invalid', message);
export const notFound = (message: string): MeshpeerError => new MeshpeerError('not-found', message);
export const conflict = (message: string): MeshpeerError => new MeshpeerError('conflict', message);
export const permissionDenied = (message: string): MeshpeerError =>
  new MeshpeerError('permission-denied', message);
export const unavailable = (message: string): MeshpeerError => new MeshpeerError('unavailable', message);

export function isMeshpeerError(err: unknown): err is MeshpeerError {
  return err instanceof MeshpeerError;
}
