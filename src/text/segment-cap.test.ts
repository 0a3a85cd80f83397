// The hard segment cap (`maxSegmentChars`, issue 18): no segment is longer, whatever the text;
// a token past it is cut at a grapheme boundary, the same way whole and in pieces.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSegmenter, SegmenterOptionsError, type SegmenterOptions } from './segmenter.ts';

function run(text: string, options: SegmenterOptions, pieceSizes?: number[]): { pushed: string[]; flushed: readonly string[] } {
  const s = createSegmenter(options);
  const pushed: string[] = [];
  if (!pieceSizes) pushed.push(...s.push(text));
  else {
    for (let i = 0, n = 0; i < text.length; n++) {
      const size = pieceSizes[n % pieceSizes.length];
      pushed.push(...s.push(text.slice(i, i + size)));
      i += size;
    }
  }
  return { pushed, flushed: s.flush() };
}

const all = (r: { pushed: string[]; flushed: readonly string[] }) => [...r.pushed, ...r.flushed];

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** Offsets in `text` where a grapheme starts. */
function boundaries(text: string): Set<number> {
  const set = new Set<number>([text.length]);
  for (const { index } of graphemes.segment(text)) set.add(index);
  return set;
}

/** For text without whitespace: the segments are consecutive pieces of it, each cut on a grapheme boundary. */
function expectGraphemeCuts(text: string, segments: string[], cap: number): void {
  expect(segments.join('')).toBe(text);
  const ok = boundaries(text);
  let at = 0;
  for (const s of segments) {
    expect(s.length).toBeLessThanOrEqual(cap);
    at += s.length;
    expect(ok.has(at), `cut at ${at} is not a grapheme boundary`).toBe(true);
  }
}

const PIECES = [1, 3, 2, 4, 4, 1, 2];

describe('hard segment cap (maxSegmentChars)', () => {
  it('defaults to 600 and rejects nonsense', () => {
    expect(createSegmenter().options.maxSegmentChars).toBe(600);
    expect(() => createSegmenter({ maxSegmentChars: 10 })).toThrow(SegmenterOptionsError);
    expect(() => createSegmenter({ maxSegmentChars: 100.5 })).toThrow(/maxSegmentChars/);
  });

  it('99,000 digits without a space: 165 segments of at most 600, released while streaming, same in pieces', () => {
    const digits = '1234567890'.repeat(9900);
    const whole = run(digits, { eagerFirst: false });
    expect(all(whole).every((s) => s.length <= 600)).toBe(true);
    expect(all(whole).join('')).toBe(digits);
    expect(all(whole)).toHaveLength(165);
    // Streamed: everything but the tail is out before the turn ends.
    expect(whole.pushed.length).toBeGreaterThanOrEqual(164);
    const pieces = run(digits, { eagerFirst: false }, PIECES);
    expect(all(pieces)).toEqual(all(whole));
    expect(pieces.pushed.length).toBeGreaterThanOrEqual(164);
  });

  it('the default session text: a long token after a sentence is cut, the sentence is untouched', () => {
    const text = `Hello there. ${'x'.repeat(1500)} Bye.`;
    const out = all(run(text, {}));
    expect(out[0]).toBe('Hello there.');
    expect(out.slice(1, -1).join('')).toBe(`${'x'.repeat(1500)}`);
    expect(out.every((s) => s.length <= 600)).toBe(true);
    expect(out.at(-1)).toBe('Bye.');
  });

  it.each([
    ['emoji with skin tone', '👍🏽'],
    ['family (ZWJ sequence)', '👨‍👩‍👧‍👦'],
    ['flag (regional indicators)', '🇫🇷'],
    ['e + combining acute', 'e\u0301'],
    ['Devanagari conjunct', 'क्षि'],
    ['astral letter', '𝒜'],
    ['Hangul jamo syllable', '\u1100\u1161\u11a8'],
  ])('a long token of %s is cut on grapheme boundaries, whole and in pieces', (_name, unit) => {
    for (const cap of [16, 17, 600]) {
      const text = unit.repeat(Math.ceil((cap * 5) / unit.length) + 3);
      const options = { eagerFirst: false, maxSegmentChars: cap };
      const whole = all(run(text, options));
      expectGraphemeCuts(text, whole, cap);
      expect(all(run(text, options, PIECES))).toEqual(whole);
    }
  });

  it('one grapheme longer than the cap is cut between code points, never inside a surrogate pair', () => {
    // A base letter and 200 astral combining marks (each a surrogate pair): one grapheme of 401 units.
    const text = `a${'\u{1D167}'.repeat(200)}`;
    const out = all(run(text, { eagerFirst: false, maxSegmentChars: 33 }));
    expect(out.join('')).toBe(text);
    for (const s of out) {
      expect(s.length).toBeLessThanOrEqual(33);
      expect(s.charCodeAt(0) >= 0xdc00 && s.charCodeAt(0) <= 0xdfff, 'starts with a low surrogate').toBe(false);
      const last = s.charCodeAt(s.length - 1);
      expect(last >= 0xd800 && last <= 0xdbff, 'ends with a high surrogate').toBe(false);
    }
  });

  it.each([
    ['exclamation marks', 'Wow' + '!'.repeat(5000) + ' Next.'],
    ['ideographic full stops', '好' + '。'.repeat(5000) + '好。'],
    ['closing brackets after a terminator', '好。' + '」'.repeat(5000) + '好。'],
    ['spaced dots', 'Well' + ' .'.repeat(3000) + ' End.'],
    ['dots', 'Wait' + '.'.repeat(5000) + ' Next.'],
  ])('a run of %s is capped too', (_name, text) => {
    const options = { eagerFirst: false, maxSegmentChars: 64 };
    const whole = all(run(text, options));
    for (const s of whole) expect(s.length).toBeLessThanOrEqual(64);
    expect(whole.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''));
    expect(all(run(text, options, PIECES))).toEqual(whole);
  });

  it('a cap below maxLength bounds ordinary prose too', () => {
    const text = 'word '.repeat(400);
    const out = all(run(text, { eagerFirst: false, maxSegmentChars: 100 }));
    expect(out.every((s) => s.length <= 100)).toBe(true);
    expect(out.join(' ')).toBe(text.trim());
  });

  it('property: any text, any cap — no segment over the cap, pieces equal whole', () => {
    const unit = fc.constantFrom('a', '1', '.', '!', '。', '」', ' ', '\n', '👍🏽', 'e\u0301', '🇫🇷', '中', 'Dr. ', 'U.S.', '«', '»', '“', '„');
    fc.assert(
      fc.property(
        fc.array(fc.oneof(unit, unit.chain((u) => fc.integer({ min: 10, max: 120 }).map((n) => u.repeat(n)))), { maxLength: 30 }),
        fc.integer({ min: 16, max: 80 }),
        fc.constantFrom('en', 'zh', 'de', 'auto'),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
        (parts, cap, language, sizes) => {
          const text = parts.join('');
          const options = { eagerFirst: false, maxSegmentChars: cap, language };
          const whole = all(run(text, options));
          for (const s of whole) expect(s.length).toBeLessThanOrEqual(cap);
          expect(whole.join('').replace(/\s/g, '')).toBe(text.replace(/\s/g, ''));
          expect(all(run(text, options, sizes))).toEqual(whole);
        },
      ),
      { numRuns: Number(process.env.CAP_RUNS ?? 300) },
    );
  });
});
