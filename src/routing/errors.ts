/** Typed errors of the routing layer (codes: RoutingErrorCode in src/errors.ts). */
import { VoicegateError, type RoutingErrorCode } from '../errors.ts';

export class RoutingError extends VoicegateError<Exclude<RoutingErrorCode, 'discovery_timeout'>> {}
