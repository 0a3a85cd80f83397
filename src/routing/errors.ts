/** Typed errors of the routing layer. */
export type RoutingErrorCode = 'UNKNOWN_POOL' | 'UNKNOWN_INSTANCE' | 'TOO_MANY_INSTANCES' | 'DUPLICATE_INSTANCE' | 'NO_INSTANCES' | 'DUPLICATE_POOL';

export class RoutingError extends Error {
  override readonly name = 'RoutingError';
  constructor(
    readonly code: RoutingErrorCode,
    message: string,
  ) {
    super(message);
  }
}
