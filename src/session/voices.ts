/**
 * Voice names → the voice a pool speaks (docs/http-api.md "Voices"). Pure and dependency-free:
 * config.ts fills in the alias defaults with it (which /v1/audio/voices lists), and the session
 * factory, the OpenAI speech API and the drop-in voice maps resolve through resolveVoice, so
 * every front end agrees.
 */

/** OpenAI's TTS voice names (PROTOCOLS.md §2): accepted by every pool through `voice_aliases`. */
export const OPENAI_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'onyx', 'nova', 'sage', 'shimmer', 'verse', 'marin', 'cedar'] as const;

/** What resolution needs of a pool. */
export interface VoicePool {
  /** The voices the pool's backend speaks; the first is the default. */
  readonly voices: readonly string[];
  /** Alias → one of `voices` (config `pools[].voice_aliases`, defaults filled in). */
  readonly voice_aliases?: Readonly<Record<string, string>>;
}

/**
 * The voice of `pool` a request gets: its default when none is named; the voice itself when the
 * pool lists it (a pool's own voice always wins over an alias of the same name); else the alias
 * target (alias names match case-insensitively, as OpenAI's do). null: the pool has no such voice.
 */
export function resolveVoice(pool: VoicePool, requested: string | undefined): string | null {
  if (requested === undefined || requested === '') return pool.voices[0] ?? null;
  if (pool.voices.includes(requested)) return requested;
  const aliases = pool.voice_aliases;
  if (!aliases) return null;
  if (Object.hasOwn(aliases, requested)) return aliases[requested]!;
  const lower = requested.toLowerCase();
  return Object.hasOwn(aliases, lower) ? aliases[lower]! : null;
}

/** The alias defaults of a pool: every OpenAI voice → the pool's first voice, then `explicit` on top. */
export function defaultVoiceAliases(voices: readonly string[], explicit: Readonly<Record<string, string>>): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const name of OPENAI_VOICES) aliases[name] = voices[0]!;
  return Object.assign(aliases, explicit);
}
