/**
 * The drop-in front ends (docs/compat.md) as the gateway mounts them: each protocol's
 * WebSocket handlers and HTTP routes, built from the config. One registration point, so the
 * gateway needs one line per kind.
 */
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { Admission } from './admission.ts';
import { CARTESIA_WS_PATH, cartesiaHttpRoutes, cartesiaWebSocket, type CartesiaRouteOptions } from './cartesia-routes.ts';
import { DEEPGRAM_SPEAK_PATH, deepgramHttpRoutes, deepgramWebSocket, type DeepgramRouteOptions } from './deepgram-routes.ts';
import { ELEVENLABS_MULTI_STREAM_INPUT, ELEVENLABS_STREAM_INPUT, elevenLabsHttpRoutes, elevenLabsWebSocket, type ElevenLabsRouteOptions } from './elevenlabs-routes.ts';
import type { HttpRoute } from './engine.ts';
import type { WebSocketRoute } from './ws-dispatch.ts';

export interface CompatRouteOptions {
  readonly sessions: SessionFactory;
  readonly config: Pick<Config, 'pools' | 'compat' | 'auth' | 'session'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly admission: Admission;
}

function cartesiaOptions(options: CompatRouteOptions): CartesiaRouteOptions {
  const { config } = options;
  return { ...options, pools: config.pools, compat: config.compat.cartesia, apiKeys: config.auth.api_keys, maxMessageBytes: config.session.max_message_bytes };
}

function elevenLabsOptions(options: CompatRouteOptions): ElevenLabsRouteOptions {
  const { config } = options;
  return {
    ...options,
    pools: config.pools,
    compat: config.compat.elevenlabs,
    apiKeys: config.auth.api_keys,
    maxMessageBytes: config.session.max_message_bytes,
    maxTextChars: config.session.max_turn_chars,
  };
}

function deepgramOptions(options: CompatRouteOptions): DeepgramRouteOptions {
  const { config } = options;
  return {
    ...options,
    pools: config.pools,
    compat: config.compat.deepgram,
    apiKeys: config.auth.api_keys,
    maxMessageBytes: config.session.max_message_bytes,
    maxTextChars: config.session.max_turn_chars,
  };
}

export function compatWebSockets(options: CompatRouteOptions): WebSocketRoute[] {
  return [
    { paths: [CARTESIA_WS_PATH], handlers: cartesiaWebSocket(cartesiaOptions(options)) },
    { paths: [ELEVENLABS_STREAM_INPUT, ELEVENLABS_MULTI_STREAM_INPUT], handlers: elevenLabsWebSocket(elevenLabsOptions(options)) },
    { paths: [DEEPGRAM_SPEAK_PATH], handlers: deepgramWebSocket(deepgramOptions(options)) },
  ];
}

export function compatHttpRoutes(options: CompatRouteOptions): HttpRoute[] {
  return [...cartesiaHttpRoutes(cartesiaOptions(options)), ...elevenLabsHttpRoutes(elevenLabsOptions(options)), ...deepgramHttpRoutes(deepgramOptions(options))];
}
