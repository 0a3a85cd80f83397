/**
 * The native protocol end to end on the embedded espeak-ng engine, on both transport
 * engines: what a new user's WebSocket client sees (issue: walking skeleton).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { rms, StreamClient } from './helpers/stream-client.ts';

const embeddedConfig = (engine: 'uws' | 'ws') =>
  parseConfig({
    server: { host: '127.0.0.1', port: 0, engine },
    session: { max_message_bytes: 4096 },
    pools: [
      {
        name: 'embedded',
        backend: 'espeak',
        model: 'espeak',
        voices: ['en-us', 'en-gb'],
        instances: [{ id: 'espeak-1', max_concurrency: 1 }, { id: 'espeak-2', max_concurrency: 1 }],
        timeouts: { first_audio_ms: 5000, stall_ms: 5000 },
      },
    ],
  });

describe.each(['uws', 'ws'] as const)('native stream protocol on %s', (engine) => {
  let gateway: Gateway;
  let url: string;

  beforeAll(async () => {
    gateway = await createGateway({ config: embeddedConfig(engine) });
    const port = await gateway.listen();
    expect(gateway.engine).toBe(engine);
    url = `ws://127.0.0.1:${port}/v1/stream`;
  });

  afterAll(async () => {
    await gateway.close();
  });

  it('speaks a two-sentence turn: ready, segments in order, non-silent audio, segment_end, turn_end', async () => {
    const client = await StreamClient.connect(`${url}?session_id=call-1`);
    client.send({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 24000 } });
    client.send({ type: 'text', text: 'Hello there. This is a test of the gateway.' });
    client.send({ type: 'flush' });
    await client.waitType('turn_end', 15_000);

    const types = client.events.map((e) => e.type);
    expect(types[0]).toBe('ready');
    const ready = client.events[0] as Record<string, unknown>;
    expect(ready).toMatchObject({ session_id: 'call-1', pool: 'embedded', format: { encoding: 'pcm_s16le', sample_rate: 24000 } });
    expect(['espeak-1', 'espeak-2']).toContain(ready.instance);

    const segments = client.ofType('segment');
    expect(segments.map((s) => s.index)).toEqual([0, 1]);
    expect(segments.map((s) => s.text)).toEqual(['Hello there.', 'This is a test of the gateway.']);
    const ends = client.ofType('segment_end');
    expect(ends.map((s) => s.index)).toEqual([0, 1]);

    // Order: segment 0, its audio, segment_end 0, segment 1, its audio, segment_end 1, turn_end.
    // With lookahead 2 and one stream per espeak instance, segment 1 may spill to the other
    // instance: then a failover (overflow) event announces it, just before its segment.
    const order = types.filter((t, i) => t !== 'audio' || types[i - 1] !== 'audio');
    const failovers = client.ofType('failover');
    const expected = ['ready', 'segment', 'audio', 'segment_end', ...failovers.map(() => 'failover'), 'segment', 'audio', 'segment_end', 'turn_end'];
    expect(order).toEqual(expected);
    for (const move of failovers) expect(move).toMatchObject({ index: 1, from: ready.instance, to: segments[1]!.provider, reason: 'overflow' });
    if (segments[1]!.provider !== ready.instance) expect(failovers).toHaveLength(1);

    const audio = client.audioBytes();
    const seconds = audio.length / 2 / 24000;
    expect(seconds).toBeGreaterThan(1);
    expect(rms(audio)).toBeGreaterThan(500);
    const reported = ends.reduce((sum, e) => sum + (e.audio_ms as number), 0);
    expect(Math.abs(reported - seconds * 1000)).toBeLessThan(50);
    await client.close();
  });

  it('streams per sentence: the first audio leaves long before the last sentence is done', async () => {
    const client = await StreamClient.connect(url);
    client.send({ type: 'start' });
    const sentences = Array.from({ length: 8 }, (_, i) => `This is sentence number ${i + 1} of a rather long answer to the question.`);
    client.send({ type: 'text', text: sentences.join(' ') });
    const flushedAt = performance.now();
    client.send({ type: 'flush' });
    await client.waitType('turn_end', 30_000);
    expect(client.ofType('segment')).toHaveLength(8);
    const firstAudio = client.times[client.events.findIndex((e) => e.type === 'audio')]! - flushedAt;
    const turnEnd = client.times[client.events.findIndex((e) => e.type === 'turn_end')]! - flushedAt;
    // With lookahead 2 the eighth sentence cannot start before the sixth is delivered, so
    // audio that waited for the whole text would arrive at about turnEnd, not near its start.
    expect(firstAudio).toBeLessThan(turnEnd / 2);
    await client.close();
  });

  it('cancel mid-turn: cancelled arrives and no audio of the cancelled text follows', async () => {
    const client = await StreamClient.connect(url);
    client.send({ type: 'start', format: { encoding: 'pcm_s16le', sample_rate: 16000 } });
    const long = Array.from({ length: 12 }, (_, i) => `Sentence ${i + 1} keeps the engine busy for a while.`).join(' ');
    client.send({ type: 'text', text: long });
    client.send({ type: 'flush' });
    await client.waitType('audio', 10_000);
    client.send({ type: 'cancel' });
    await client.waitType('cancelled');
    const cancelledAt = client.events.findIndex((e) => e.type === 'cancelled');
    // Give any stray audio time to (wrongly) arrive.
    await new Promise((r) => setTimeout(r, 400));
    expect(client.events.slice(cancelledAt + 1).filter((e) => e.type === 'audio' || e.type === 'segment')).toEqual([]);
    expect(client.ofType('turn_end')).toHaveLength(0);

    // The session carries on with the next turn.
    client.send({ type: 'text', text: 'After the barge in.' });
    client.send({ type: 'flush' });
    await client.waitType('turn_end', 10_000);
    const after = client.events.slice(cancelledAt + 1);
    expect(after.filter((e) => e.type === 'segment').map((e) => (e as Record<string, unknown>).text)).toEqual(['After the barge in.']);
    await client.close();
  });

  it('echoes a mark after the audio queued before it', async () => {
    const client = await StreamClient.connect(url);
    client.send({ type: 'start' });
    client.send({ type: 'text', text: 'Mark after me.' });
    client.send({ type: 'flush' });
    client.send({ type: 'mark', name: 'm1' });
    await client.waitType('mark', 10_000);
    const types = client.events.map((e) => e.type);
    expect(types.indexOf('mark')).toBeGreaterThan(types.lastIndexOf('audio'));
    expect(types.indexOf('mark')).toBeGreaterThan(types.indexOf('turn_end'));
    expect(client.ofType('mark')[0]).toEqual({ type: 'mark', name: 'm1' });
    await client.close();
  });

  it('answers bad input with error codes and keeps the connection usable', async () => {
    const client = await StreamClient.connect(url);
    const expectError = async (send: () => void, code: string) => {
      const before = client.ofType('error').length;
      send();
      await client.waitFor(() => client.ofType('error').length > before);
      const error = client.ofType('error')[before]!;
      expect(error).toMatchObject({ code, fatal: false });
      expect(typeof error.message).toBe('string');
    };
    await expectError(() => client.send({ type: 'text', text: 'too early' }), 'not_started');
    await expectError(() => client.sendRaw('{not json'), 'invalid_json');
    await expectError(() => client.send({ type: 'dance' }), 'unknown_type');
    await expectError(() => client.sendRaw(Buffer.from([1, 2, 3])), 'binary_not_supported');
    await expectError(() => client.send({ type: 'text', text: 'x'.repeat(5000) }), 'message_too_large');
    await expectError(() => client.send({ type: 'start', format: { encoding: 'mp3' } }), 'unsupported_format');
    await expectError(() => client.send({ type: 'start', voice: 'klingon' }), 'unknown_voice');
    await expectError(() => client.send({ type: 'text' }), 'invalid_message');

    // Still usable: a proper start and a turn work.
    client.send({ type: 'start' });
    await client.waitType('ready');
    await expectError(() => client.send({ type: 'start' }), 'already_started');
    client.send({ type: 'text', text: 'Still here.' });
    client.send({ type: 'flush' });
    await client.waitType('turn_end', 10_000);
    expect(client.audioBytes().length).toBeGreaterThan(0);
    await client.close();
  });

  it('twilio mode: 20 ms μ-law media messages, Twilio marks, clear cancels', async () => {
    const client = await StreamClient.connect(url);
    client.send({ type: 'start', mode: 'twilio', stream_sid: 'MZtest1' });
    const ready = await client.waitType('ready');
    expect(ready).toMatchObject({ format: { encoding: 'pcm_mulaw', sample_rate: 8000 }, frame_ms: 20 });
    client.send({ type: 'text', text: 'Thanks for calling. How can I help?' });
    client.send({ type: 'flush' });
    client.send({ event: 'mark', streamSid: 'MZtest1', mark: { name: 'utterance-1' } });
    await client.waitFor((e) => (e as Record<string, unknown>).event === 'mark', 15_000);
    const media = client.events.filter((e) => (e as Record<string, unknown>).event === 'media') as unknown as { streamSid: string; media: { payload: string } }[];
    expect(media.length).toBeGreaterThan(25);
    for (const m of media) {
      expect(m.streamSid).toBe('MZtest1');
      expect(Buffer.from(m.media.payload, 'base64').length).toBe(160);
    }
    expect(client.events.filter((e) => e.type === 'audio')).toHaveLength(0);
    const mark = client.events.find((e) => (e as Record<string, unknown>).event === 'mark');
    expect(mark).toEqual({ event: 'mark', streamSid: 'MZtest1', mark: { name: 'utterance-1' } });
    const lastMedia = client.events.findLastIndex((e) => (e as Record<string, unknown>).event === 'media');
    expect(client.events.indexOf(mark!)).toBeGreaterThan(lastMedia);

    // Twilio-style clear works as cancel.
    client.send({ type: 'text', text: 'A long answer that the caller interrupts. It goes on and on. And on.' });
    client.send({ type: 'flush' });
    const count = media.length;
    await client.waitFor(() => client.events.filter((e) => (e as Record<string, unknown>).event === 'media').length > count, 10_000);
    client.send({ event: 'clear', streamSid: 'MZtest1' });
    await client.waitType('cancelled');
    const at = client.events.findIndex((e) => e.type === 'cancelled');
    await new Promise((r) => setTimeout(r, 300));
    expect(client.events.slice(at + 1).filter((e) => (e as Record<string, unknown>).event === 'media')).toEqual([]);
    await client.close();
  });

  it('exposes health, readiness and metrics', async () => {
    const base = url.replace('ws://', 'http://').replace('/v1/stream', '');
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^voicegate_sessions_active /m);
    expect(metrics).toMatch(/^voicegate_ttfa_seconds_count \d+/m);
    expect(Number(/^voicegate_ttfa_seconds_count (\d+)/m.exec(metrics)![1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/^process_cpu_seconds_total /m);
  });
});
