/**
 * Library voices in the `GET /v1/audio/voices` listing, beside the pools' own: each entry
 * carries `source` (`pool` or `library`), library entries their upload details.
 */
import type { PoolConfig } from '../config.ts';
import type { VoiceObject } from '../protocol/openai.ts';
import type { VoiceMeta } from './store.ts';

export interface LibraryVoiceObject {
  readonly id: string;
  readonly object: 'voice';
  readonly name: string;
  readonly model: string;
  readonly pool: string;
  readonly language: string;
  readonly source: 'library';
  readonly created_at: string;
  readonly duration_seconds: number;
  readonly ref_text?: string;
  /** The fallback's clone, when Cartesia is configured and the clone worked. */
  readonly cartesia_voice_id?: string;
}

export function libraryVoiceObject(meta: VoiceMeta, pools: readonly PoolConfig[]): LibraryVoiceObject {
  const pool = pools.find((p) => p.name === meta.pool);
  return {
    id: meta.id,
    object: 'voice',
    name: meta.name,
    model: pool?.model ?? '',
    pool: meta.pool,
    language: meta.language ?? pool?.language ?? '',
    source: 'library',
    created_at: meta.created_at,
    duration_seconds: meta.duration_seconds,
    ...(meta.ref_text ? { ref_text: meta.ref_text } : {}),
    ...(meta.cartesia?.voice_id ? { cartesia_voice_id: meta.cartesia.voice_id } : {}),
  };
}

/**
 * The pools' listing with library voices in it: the pool entries that are library ids (the
 * library admits its voices into their pool's list) are replaced by their library entries.
 */
export function withLibraryVoices<L extends { data: VoiceObject[]; voices: { id: string; name: string }[] }>(
  listing: L,
  library: { get(id: string): VoiceMeta | undefined },
  pools: readonly PoolConfig[],
): L {
  const data = listing.data.map((voice) => {
    const meta = library.get(voice.id);
    return meta ? libraryVoiceObject(meta, pools) : { ...voice, source: 'pool' as const };
  });
  return { ...listing, data, voices: data.map((v) => ({ id: v.id, name: v.name })) };
}
