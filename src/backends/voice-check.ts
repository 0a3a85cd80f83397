/**
 * The start-up voice check (issue 21): every voice a pool lists (aliases point at them) must be
 * one its backend speaks. Pools whose backend can list its voices (Backend.listVoices: espeak
 * always, OpenAI-compatible servers offering /v1/audio/voices, Gradio apps whose /config names
 * the voice input's choices) are asked once, through the
 * first instance that answers; a voice the server lacks is a VoiceCheckError naming pool, voice
 * and the voices it has, which main.ts turns into exit status 2. Servers that cannot be asked,
 * or cannot be reached now, are logged and left to fail at the first request.
 */
import type { Logger } from '../log.ts';
import type { Backend } from './backend.ts';

export class VoiceCheckError extends Error {
  override readonly name = 'VoiceCheckError';
  readonly code = 'VOICE_UNKNOWN';
}

export interface VoiceCheckPool {
  readonly name: string;
  readonly backend: string;
  readonly voices: readonly string[];
  /** The pool's instances' backends, asked in order until one answers. */
  readonly backends: readonly Backend[];
}

/** How many voices the error message lists before "… and N more". */
const LISTED = 60;

export async function checkPoolVoices(pools: readonly VoiceCheckPool[], options: { timeoutMs?: number; logger?: Logger } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 3000;
  await Promise.all(
    pools.map(async (pool) => {
      const askable = pool.backends.filter((b) => b.listVoices !== undefined);
      if (askable.length === 0) return;
      let lastError: unknown = null;
      for (const backend of askable) {
        let list;
        try {
          list = await backend.listVoices!(AbortSignal.timeout(timeoutMs));
        } catch (err) {
          lastError = err;
          continue;
        }
        if (list === null) {
          options.logger?.info({ pool: pool.name }, `pool ${pool.name}: the ${pool.backend} server cannot list its voices; voices are not checked at start`);
          return;
        }
        const missing = pool.voices.filter((v) => !list.has(v));
        if (missing.length === 0) return;
        const shown = list.voices.slice(0, LISTED).join(', ') + (list.voices.length > LISTED ? `, … and ${list.voices.length - LISTED} more` : '');
        throw new VoiceCheckError(
          `pool ${pool.name}: ${missing.length === 1 ? 'voice' : 'voices'} ${missing.map((v) => JSON.stringify(v)).join(', ')} not spoken by its ${pool.backend} backend; it has: ${shown}`,
        );
      }
      options.logger?.warn({ pool: pool.name, err: lastError }, `pool ${pool.name}: could not ask any instance for its voices; voices are not checked at start`);
    }),
  );
}
