/**
 * The client-protocol conformance suite: every front end (native /v1/stream, Cartesia,
 * ElevenLabs, Deepgram) runs it against a running gateway over the fleet simulator
 * (test/protocol-conformance.test.ts), so each keeps the session's promises in its own words:
 * two sentences in order, barge-in that frees the GPU, bad input answered in the protocol's
 * own error shape without ending the call, unknown voice, missing and wrong key, oversize
 * messages, a slow reader that loses nothing, the same pin for the same key, and failover
 * without a lost sentence when the pinned instance dies mid-turn.
 *
 * A target drives one protocol with raw frames; the suite only speaks in turns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** One call on a front end, in protocol-neutral terms. */
export interface ConformanceCall {
  /** Text of the current turn. */
  say(text: string): void;
  /** End of the current turn: speak everything said. */
  endTurn(): void;
  /** Barge-in: stop the current turn; resolves once the protocol confirmed it (if it does). */
  bargeIn(): Promise<void>;
  /** A raw text frame, as is. */
  raw(frame: string): void;
  /** Resolves once the current turn's audio is complete (turn_end, done, isFinal, Flushed). */
  turnDone(timeoutMs?: number): Promise<void>;
  /** Audio bytes received so far, decoded (base64 payloads count decoded). */
  audioBytes(): number;
  /** Error (or warning) messages received, in the protocol's own shape. */
  errors(): Record<string, unknown>[];
  /** Stops / resumes reading from the socket (a slow client). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** How a refusal looked: an upgrade refused with a status and body, or a message then a close. */
export interface Refusal {
  readonly status?: number;
  readonly closeCode?: number;
  readonly body: Record<string, unknown>;
}

export interface ConformanceTarget {
  readonly name: string;
  /**
   * Opens a call speaking s16le at 16 kHz. `key` is the pinning key the protocol documents
   * (session_id); `voice` a provider voice id (default: one mapped to a pool voice); `apiKey`
   * null sends none.
   */
  open(options?: { key?: string; voice?: string; apiKey?: string | null }): Promise<ConformanceCall>;
  /** Opens a call that must be refused, and reports how (for auth and unknown voice). */
  refused(options: { voice?: string; apiKey?: string | null }): Promise<Refusal>;
  /** Whether a message or HTTP body is this protocol's error shape. */
  isError(body: Record<string, unknown>): boolean;
}

export interface ConformanceFleet {
  /** Synthesis requests the simulator has taken, per instance id. */
  requests(): Map<string, number>;
  /** Streams in flight on the simulator. */
  active(): number;
  /** Makes one instance cut its next streams after the first chunk, or stop doing so. */
  dieMidStream(instanceId: string, on: boolean): Promise<void>;
  /** Expected audio length of a segment's text on the simulator. */
  expectedMs(text: string): number;
  /** The gateway's session.max_message_bytes. */
  readonly maxMessageBytes: number;
}

const BYTES_PER_MS = 32; // s16le mono at 16 kHz
const FIRST = 'The first sentence is here.';
const SECOND = 'And a second one follows it.';
// About 16 s of speech: at the simulator's rtf 0.3 it synthesizes for ~5 s, so a GPU request
// gone within 1.5 s was aborted, not finished.
const LONG = 'This is a long sentence that keeps the simulated GPU busy for a good while, long enough to be cut off in the middle of it, and then it goes on and on about nothing in particular so that the synthesis takes several seconds to finish.';
const MANY = [
  'Thanks for calling the support line today.',
  'I can see your order in our system now.',
  'It shipped yesterday from the main warehouse.',
  'You should receive it by Thursday at the latest.',
  'Is there anything else I can help you with?',
];

function delta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, n] of after) if (n - (before.get(id) ?? 0) > 0) out.set(id, n - (before.get(id) ?? 0));
  return out;
}

export function runProtocolConformance(setup: () => Promise<{ target: ConformanceTarget; fleet: ConformanceFleet; close(): Promise<void> }>): void {
  let target: ConformanceTarget;
  let fleet: ConformanceFleet;
  let close: () => Promise<void>;
  let name = 'front end';

  beforeAll(async () => {
    ({ target, fleet, close } = await setup());
    name = target.name;
  });

  afterAll(async () => {
    await close?.();
  });

  const expectedBytes = (texts: string[]) => texts.reduce((n, t) => n + fleet.expectedMs(t), 0) * BYTES_PER_MS;

  describe('protocol conformance', () => {
    it('two sentences: all their audio, in one turn, no error', async () => {
      const call = await target.open();
      call.say(`${FIRST} `);
      call.say(SECOND);
      call.endTurn();
      await call.turnDone();
      const want = expectedBytes([FIRST, SECOND]);
      expect(call.audioBytes(), name).toBeGreaterThan(want * 0.95);
      expect(call.audioBytes(), name).toBeLessThan(want * 1.05);
      expect(call.errors(), name).toEqual([]);
      await call.close();
    });

    it('barge-in: the audio stops, the GPU request is aborted, the next turn plays', async () => {
      const call = await target.open();
      call.say(LONG);
      call.endTurn();
      await expect.poll(() => call.audioBytes(), { timeout: 5000 }).toBeGreaterThan(0);
      expect(fleet.active()).toBeGreaterThan(0);
      await call.bargeIn();
      await expect.poll(() => fleet.active(), { timeout: 1500 }).toBe(0);
      const stoppedAt = call.audioBytes();
      expect(stoppedAt).toBeLessThan(expectedBytes([LONG]) * 0.9);
      await new Promise((r) => setTimeout(r, 300));
      expect(call.audioBytes()).toBe(stoppedAt);
      call.say(FIRST);
      call.endTurn();
      await call.turnDone();
      expect(call.audioBytes() - stoppedAt).toBeGreaterThan(expectedBytes([FIRST]) * 0.95);
      await call.close();
    });

    it('a malformed message gets an error in the protocol\'s shape and the call goes on', async () => {
      const call = await target.open();
      call.raw('{"this is": not json');
      await expect.poll(() => call.errors().length, { timeout: 3000 }).toBeGreaterThan(0);
      expect(target.isError(call.errors()[0]!), JSON.stringify(call.errors()[0])).toBe(true);
      call.say(FIRST);
      call.endTurn();
      await call.turnDone();
      expect(call.audioBytes()).toBeGreaterThan(expectedBytes([FIRST]) * 0.95);
      await call.close();
    });

    it('an oversize message gets an error and the call goes on', async () => {
      const call = await target.open();
      call.raw(JSON.stringify({ text: 'x'.repeat(fleet.maxMessageBytes + 10) }));
      await expect.poll(() => call.errors().length, { timeout: 3000 }).toBeGreaterThan(0);
      expect(target.isError(call.errors()[0]!)).toBe(true);
      expect(JSON.stringify(call.errors()[0])).toMatch(/bytes|large/);
      call.say(FIRST);
      call.endTurn();
      await call.turnDone();
      await call.close();
    });

    it('an unknown voice is refused in the protocol\'s shape', async () => {
      const refusal = await target.refused({ voice: 'no-such-voice-anywhere' });
      expect(target.isError(refusal.body), JSON.stringify(refusal.body)).toBe(true);
      expect(JSON.stringify(refusal.body)).toMatch(/voice|model/i);
      if (refusal.status !== undefined) expect(refusal.status).toBeGreaterThanOrEqual(400);
    });

    it('a missing and a wrong key are refused', async () => {
      for (const apiKey of [null, 'wrong-key']) {
        const refusal = await target.refused({ apiKey });
        expect(refusal.status === 401 || refusal.closeCode === 1008, `${apiKey}: ${JSON.stringify(refusal)}`).toBe(true);
        expect(target.isError(refusal.body), JSON.stringify(refusal.body)).toBe(true);
      }
    });

    it('a slow reader loses nothing: audio held back while it does not read, all of it after', async () => {
      const call = await target.open();
      call.pause();
      for (const sentence of MANY) call.say(`${sentence} `);
      call.endTurn();
      await new Promise((r) => setTimeout(r, 1500));
      call.resume();
      await call.turnDone(20_000);
      const want = expectedBytes(MANY);
      expect(call.audioBytes()).toBeGreaterThan(want * 0.95);
      expect(call.audioBytes()).toBeLessThan(want * 1.05);
      expect(call.errors()).toEqual([]);
      await call.close();
    }, 30_000);

    it('the same key is pinned to the same instance, call after call', async () => {
      const key = `pin-${name}-${Date.now()}`;
      const used = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const before = fleet.requests();
        const call = await target.open({ key });
        call.say(FIRST);
        call.endTurn();
        await call.turnDone();
        await call.close();
        for (const id of delta(before, fleet.requests()).keys()) used.add(id);
      }
      expect([...used]).toHaveLength(1);
    });

    it('the pinned instance dies mid-turn: the turn completes elsewhere, no sentence lost, no error', async () => {
      const key = `failover-${name}-${Date.now()}`;
      const call = await target.open({ key });
      const before = fleet.requests();
      call.say(FIRST);
      call.endTurn();
      await call.turnDone();
      const pinned = [...delta(before, fleet.requests()).keys()];
      expect(pinned).toHaveLength(1);
      const firstTurn = call.audioBytes();
      await fleet.dieMidStream(pinned[0]!, true);
      try {
        call.say(`${FIRST} `);
        call.say(SECOND);
        call.endTurn();
        await call.turnDone(15_000);
      } finally {
        await fleet.dieMidStream(pinned[0]!, false);
      }
      // Both sentences whole; a replayed segment may repeat the part sent before the cut.
      const want = expectedBytes([FIRST, SECOND]);
      expect(call.audioBytes() - firstTurn).toBeGreaterThan(want * 0.95);
      expect(call.errors()).toEqual([]);
      await call.close();
    }, 30_000);
  });
}
