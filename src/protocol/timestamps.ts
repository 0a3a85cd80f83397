/**
 * Timing of text within audio for the drop-in protocols that report it (Cartesia word
 * timestamps, ElevenLabs character alignment). The GPU backends return audio only, so the
 * times are estimated: a segment's audio duration spread over its characters in proportion
 * (docs/compat.md says so). Good enough for what clients use them for (which words were
 * spoken before a barge-in, captions), not for lip sync.
 */
import type { WordTimestamps } from './cartesia.ts';

const WORD = /\S+/g;

/** Words of `text` with start/end in seconds, spread over [offsetMs, offsetMs + durationMs]. */
export function estimateWordTimestamps(text: string, offsetMs: number, durationMs: number): WordTimestamps {
  const words: string[] = [];
  const start: number[] = [];
  const end: number[] = [];
  const length = text.length;
  if (length === 0) return { words, start, end };
  const msPerChar = durationMs / length;
  for (const match of text.matchAll(WORD)) {
    const from = match.index;
    words.push(match[0]);
    start.push(round3((offsetMs + from * msPerChar) / 1000));
    end.push(round3((offsetMs + (from + match[0].length) * msPerChar) / 1000));
  }
  return { words, start, end };
}

export interface CharAlignment {
  readonly chars: string[];
  /** Milliseconds from the start of the audio this alignment belongs to. */
  readonly charStartTimesMs: number[];
  readonly charDurationsMs: number[];
}

/** Every character of `text` (code points) with an equal share of `durationMs`, from `offsetMs`. */
export function estimateCharAlignment(text: string, offsetMs: number, durationMs: number): CharAlignment {
  const chars = Array.from(text);
  const share = chars.length === 0 ? 0 : durationMs / chars.length;
  const charStartTimesMs = chars.map((_, i) => Math.round(offsetMs + i * share));
  const charDurationsMs = chars.map((_, i) => Math.round(offsetMs + (i + 1) * share) - charStartTimesMs[i]!);
  return { chars, charStartTimesMs, charDurationsMs };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
