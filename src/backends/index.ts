/**
 * createBackend: one Backend per configured instance, chosen by `pools[].backend`.
 * Options of each adapter (pools[].options) are parsed and defaulted by the config schema
 * (src/config.ts, one schema per backend) and documented in docs/backends.md: a backend is only
 * ever built from a valid configuration.
 */
import { ConfigError, type FallbackConfig, type InstanceConfig, type PoolConfig, type PoolConfigOf } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Backend } from './backend.ts';
import { OpenAIBackend } from './openai.ts';
import { GradioBackend } from './gradio.ts';
import { EspeakBackend } from './espeak.ts';
import { createCartesiaBackend } from './cartesia/backend.ts';

export interface BackendDeps {
  metrics: Metrics;
  logger?: Logger;
}

/** parseConfig refuses a pool instance without a url unless its backend is espeak; discovery always sets one. */
function requireUrl(pool: PoolConfig, instance: InstanceConfig & { id: string }): string {
  if (!instance.url) throw new ConfigError(`pools.${pool.name}.instances.${instance.id}.url: required for backend ${pool.backend}`);
  return instance.url;
}

/**
 * A Cartesia account used as a pool (rather than as the fallback): each instance is one
 * endpoint URL; pool options carry the fallback-style fields (api_key, version, voice_map).
 */
function cartesiaConfig(pool: PoolConfigOf<'cartesia'>, instance: InstanceConfig & { id: string }): FallbackConfig {
  return {
    backend: 'cartesia',
    url: requireUrl(pool, instance),
    api_key: pool.options.api_key,
    model: pool.model,
    version: pool.options.version,
    voice_map: pool.options.voice_map,
    max_concurrency: instance.max_concurrency,
    timeouts: pool.timeouts,
  };
}

export function createBackend(pool: PoolConfig, instance: InstanceConfig & { id: string }, deps: BackendDeps): Backend {
  switch (pool.backend) {
    case 'openai':
      return new OpenAIBackend({ pool, instance: { id: instance.id, url: requireUrl(pool, instance) }, metrics: deps.metrics });
    case 'gradio':
      return new GradioBackend({ pool, instance: { id: instance.id, url: requireUrl(pool, instance) }, metrics: deps.metrics });
    case 'espeak':
      return new EspeakBackend({
        pool: pool.name,
        instance: instance.id,
        defaultVoice: pool.voices[0],
        chunkMs: pool.options.chunk_ms,
        deadlineMs: pool.timeouts.first_audio_ms,
        onRecycle: (reason) => deps.logger?.warn({ pool: pool.name, instance: instance.id, reason }, 'espeak worker replaced'),
        metrics: deps.metrics,
      });
    case 'cartesia':
      return createCartesiaBackend(cartesiaConfig(pool, instance), { metrics: deps.metrics, logger: deps.logger, pool: pool.name, instance: instance.id });
  }
}

/**
 * Whether `pool`'s backend passes a caller's style instructions to its servers: the openai
 * adapter unless `send_instructions: false`, a Gradio app whose `inputs` name `$instructions`.
 * espeak and Cartesia have no such input. The HTTP speech API reports it per response
 * (`x-voicegate-instructions`, docs/http-api.md).
 */
export function instructionsPassed(pool: PoolConfig): boolean {
  switch (pool.backend) {
    case 'openai':
      return pool.options.send_instructions;
    case 'gradio':
      return pool.options.inputs.includes('$instructions');
    default:
      return false;
  }
}
