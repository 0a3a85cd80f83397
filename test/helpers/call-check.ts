/**
 * Checks what a caller heard against the exactly-once, in-order contract: every segment of
 * every turn once, in order; its audio once (plus announced replays); turn_end per turn.
 */
import type { StreamClient } from './stream-client.ts';

export interface CallReport {
  /** Problems found; empty when the call is complete and in order. */
  problems: string[];
  /** Provider that produced each segment's delivered audio. */
  providers: string[];
  /** Failover events seen. */
  failovers: Record<string, unknown>[];
}

/**
 * @param texts the segment texts expected, in order
 * @param bytesPerMs bytes of audio per millisecond in the negotiated format
 * @param expectedMs expected audio length of a segment's text (for plausibility), or null
 */
export function checkCall(client: StreamClient, texts: string[], bytesPerMs: number, expectedMs: ((text: string) => number) | null): CallReport {
  const problems: string[] = [];
  const providers: string[] = [];
  const events = client.events;
  const segments = client.ofType('segment');
  const ends = client.ofType('segment_end');
  const failovers = client.ofType('failover');
  const errors = client.ofType('error');
  if (errors.length) problems.push(`errors: ${JSON.stringify(errors)}`);
  if (segments.map((s) => s.index).join() !== texts.map((_, i) => i).join()) problems.push(`segment indices ${segments.map((s) => s.index).join()}`);
  if (ends.map((s) => s.index).join() !== texts.map((_, i) => i).join()) problems.push(`segment_end indices ${ends.map((s) => s.index).join()}`);
  if (segments.map((s) => s.text).join('|') !== texts.join('|')) problems.push(`segment texts ${segments.map((s) => s.text).join('|')}`);
  const turnEnds = events.filter((e) => e.type === 'turn_end').length;
  if (turnEnds !== 1) problems.push(`${turnEnds} turn_end`);
  if (events.at(-1)?.type !== 'turn_end') problems.push(`last event is ${events.at(-1)?.type}`);

  for (let n = 0; n < texts.length; n++) {
    const start = events.findIndex((e) => e.type === 'segment' && (e as Record<string, unknown>).index === n);
    const end = events.findIndex((e) => e.type === 'segment_end' && (e as Record<string, unknown>).index === n);
    if (start < 0 || end < start) continue;
    // Audio of the segment counts from its last announced replay (or its start).
    let from = start;
    for (let i = start + 1; i < end; i++) {
      const e = events[i] as Record<string, unknown>;
      if (e.type === 'failover' && e.index === n && e.replay === true) from = i;
      if (e.type === 'segment' || (e.type === 'segment_end' && i !== end)) problems.push(`segment ${n}: ${e.type} ${e.index} interleaved`);
    }
    let bytes = 0;
    for (let i = from; i < end; i++) {
      const e = events[i]!;
      if (e.type === 'audio') bytes += (e as { bytes: Buffer }).bytes.length;
    }
    const audioMs = (events[end] as Record<string, unknown>).audio_ms as number;
    if (Math.abs(bytes - audioMs * bytesPerMs) > bytesPerMs * 2) problems.push(`segment ${n}: ${bytes} bytes after its last replay but audio_ms ${audioMs}`);
    if (expectedMs) {
      const want = expectedMs(texts[n]!);
      if (Math.abs(audioMs - want) > want * 0.1 + 30) problems.push(`segment ${n}: audio_ms ${audioMs}, expected about ${want}`);
    }
    // Whoever produced the audio delivered last: the last failover's target, or the segment's provider.
    const lastMove = failovers.filter((f) => f.index === n).at(-1);
    providers.push(String(lastMove && lastMove.to !== 'none' ? lastMove.to : segments[n]?.provider));
  }
  return { problems, providers, failovers };
}
