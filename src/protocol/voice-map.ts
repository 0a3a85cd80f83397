/**
 * Provider voice ids → pool voices for the drop-in front ends (config `compat.<protocol>.voice_map`).
 * The rule, documented in docs/compat.md: a mapped id becomes its pool voice; an unmapped id
 * that is itself a pool voice, or a pool's voice alias (OpenAI's names, `pools[].voice_aliases`),
 * passes through (the session resolves the alias); anything else takes `voice_map.default` when
 * set, else it is an unknown voice.
 */
import { resolveVoice, type VoicePool } from '../session/voices.ts';
import { SessionStartError } from '../session/errors.ts';

/** Returns the pool voice for a provider id (undefined = the pool's default voice); throws SessionStartError unknown_voice. */
export type VoiceResolver = (id: string | undefined) => string | undefined;

export function createVoiceResolver(voiceMap: Readonly<Record<string, string>>, pools: readonly VoicePool[]): VoiceResolver {
  const known = new Set(pools.flatMap((p) => p.voices));
  const fallback = voiceMap.default;
  return (id) => {
    if (id === undefined || id === '') return fallback;
    const mapped = Object.hasOwn(voiceMap, id) ? voiceMap[id] : undefined;
    if (mapped !== undefined) return mapped;
    if (known.has(id) || pools.some((p) => resolveVoice(p, id) !== null)) return id;
    if (fallback !== undefined) return fallback;
    throw new SessionStartError('unknown_voice', `unknown voice ${JSON.stringify(id).slice(0, 80)}: map it in voicegate's compat voice_map, or use one of ${[...known].join(', ')}`);
  };
}
