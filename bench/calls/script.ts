/**
 * What an LLM-driven voicebot says in the call load benchmark: deterministic (seeded) turns of
 * plain sentences, streamed as ~4-character tokens. Plain words keep the segmenter and the
 * speech normalizer out of the way, so the only thing measured is transport and scheduling.
 */

const WORDS = (
  'your order ships tomorrow morning from our warehouse and should arrive within three ' +
  'business days we can also check the refund status for the previous purchase if you ' +
  'would like me to look into that right away the account shows two open tickets one ' +
  'about billing and another about a delivery that was delayed by the storm last week ' +
  'please keep your phone nearby because the courier usually calls before dropping off ' +
  'large packages at the front door our support team is available every day until nine'
).split(' ');

/** Sentences per turn and words per sentence (≈ 30–75 characters), inclusive ranges. */
const SENTENCES_PER_TURN: [number, number] = [3, 6];
const WORDS_PER_SENTENCE: [number, number] = [5, 12];

function between(rng: () => number, [lo, hi]: [number, number]): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** One sentence: capitalized, sometimes with a comma (an eager first-clause cut point). */
function sentence(rng: () => number, words: [number, number]): string {
  const n = between(rng, words);
  const comma = n >= 7 && rng() < 0.5 ? between(rng, [3, n - 3]) : -1;
  let out = '';
  for (let i = 0; i < n; i++) {
    const w = WORDS[Math.floor(rng() * WORDS.length)]!;
    out += i === 0 ? w[0]!.toUpperCase() + w.slice(1) : ` ${w}`;
    if (i === comma) out += ',';
  }
  const end = rng();
  return out + (end < 0.8 ? '.' : end < 0.92 ? '?' : '!');
}

/** The text of one turn: 3–6 sentences separated by single spaces. */
export function turnText(rng: () => number): string {
  const count = between(rng, SENTENCES_PER_TURN);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(sentence(rng, WORDS_PER_SENTENCE));
  return parts.join(' ');
}

/**
 * Cuts text into LLM-like tokens of about 4 characters: a word piece of at most 4 letters,
 * carrying the space before it (as BPE tokens do); punctuation sticks to the piece before.
 */
export function tokenize(text: string): string[] {
  return text.match(/\s*[^\s]{1,4}/g) ?? [];
}
