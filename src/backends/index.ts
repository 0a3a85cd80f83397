/**
 * createBackend: one Backend per configured instance, chosen by `pools[].backend`.
 * Options of each adapter (pools[].options) are validated by the adapter and documented in
 * docs/backends.md.
 */
import type { FallbackConfig, InstanceConfig, PoolConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Backend } from './backend.ts';
import { OpenAIBackend, OpenAIOptionsSchema } from './openai.ts';
import { GradioBackend, GradioOptionsSchema } from './gradio.ts';
import { EspeakBackend } from './espeak.ts';
import { createCartesiaBackend } from './cartesia.ts';

export interface BackendDeps {
  metrics: Metrics;
  logger?: Logger;
}

/** Thrown when a pool's backend cannot be built from its configuration. */
export class BackendConfigError extends Error {
  override readonly name = 'BackendConfigError';
  readonly code = 'BACKEND_CONFIG';
}

function requireUrl(pool: PoolConfig, instance: InstanceConfig & { id: string }): string {
  if (!instance.url) throw new BackendConfigError(`pool ${pool.name}, instance ${instance.id}: backend ${pool.backend} needs a url`);
  return instance.url;
}

/**
 * A Cartesia account used as a pool (rather than as the fallback): each instance is one
 * endpoint URL; pool options carry the fallback-style fields (api_key, version, voice_map).
 */
function cartesiaConfig(pool: PoolConfig, instance: InstanceConfig & { id: string }): FallbackConfig {
  const o = pool.options as Record<string, unknown>;
  return {
    backend: 'cartesia',
    url: requireUrl(pool, instance),
    api_key: typeof o.api_key === 'string' ? o.api_key : '',
    model: pool.model,
    version: typeof o.version === 'string' ? o.version : '2025-04-16',
    voice_map: (o.voice_map as Record<string, string> | undefined) ?? {},
    max_concurrency: instance.max_concurrency,
    timeouts: pool.timeouts,
  };
}

export function createBackend(pool: PoolConfig, instance: InstanceConfig & { id: string }, deps: BackendDeps): Backend {
  try {
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
          deadlineMs: pool.timeouts.first_audio_ms,
          onRecycle: (reason) => deps.logger?.warn({ pool: pool.name, instance: instance.id, reason }, 'espeak worker replaced'),
          metrics: deps.metrics,
        });
      case 'cartesia':
        return createCartesiaBackend(cartesiaConfig(pool, instance), { metrics: deps.metrics, logger: deps.logger, pool: pool.name, instance: instance.id });
    }
  } catch (err) {
    if (err instanceof BackendConfigError) throw err;
    // zod option errors: name the pool so the operator finds the line.
    throw new BackendConfigError(`pool ${pool.name}: invalid options for backend ${pool.backend}: ${(err as Error).message}`, { cause: err });
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
      return OpenAIOptionsSchema.safeParse(pool.options ?? {}).data?.send_instructions ?? false;
    case 'gradio':
      return GradioOptionsSchema.safeParse(pool.options ?? {}).data?.inputs.includes('$instructions') ?? false;
    default:
      return false;
  }
}
