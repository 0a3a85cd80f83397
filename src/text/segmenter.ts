// Streaming sentence segmenter for LLM text. Cuts a turn's text deltas into segments a TTS
// engine can speak: sentences, or clauses where latency or length asks for it.
//
// Design (see docs/segmentation.md):
// - One pass over the text. Each character is classified once (chars.ts); only candidate
//   boundaries (terminators, newlines, list markers) run a decision.
// - A decision reads a bounded window: the word before the candidate and at most the next
//   token (≤ 64 chars). When that window is not complete yet it answers NEED and the scan
//   waits for more text; it never answers differently once more text arrives. That is what
//   makes the segments independent of how the text was cut into deltas.
// - The text is held as UTF-16 code units (a Uint16Array), not as a string grown per delta:
//   with 1–4 character deltas that string would be a cons string per push, flattened by the
//   next decision. Strings are made only for a segment or an abbreviation key.
// - The segmenter holds no timers; the session calls idle() when its own timer fires.

import {
  K_BULLET,
  K_CJK,
  K_CJK_CLAUSE,
  K_CJK_TERM,
  K_CLAUSE,
  K_CLOSE,
  K_DASH,
  K_NEWLINE,
  K_OPEN,
  K_PLAIN,
  K_QUOTE,
  K_SPACE,
  K_TERM,
  S_NONE,
  isCjk,
  isCloser,
  isDigit,
  isLetter,
  isLower,
  isNewline,
  isOpener,
  isSpace,
  isTerminator,
  isUpper,
  kindOf,
  scriptOf,
} from './chars.ts';
import { SESSION_DEFAULTS } from '../config.ts';
import { VoicegateError } from '../errors.ts';
import { TIME_ZONES } from './languages/common.ts';
import { AUTO, rulesFor, rulesForScript, type LanguageRules } from './languages/index.ts';
import { Q_CONTEXT, Q_OPEN, quoteRole } from './languages/types.ts';

export interface SegmenterOptions {
  /**
   * BCP 47 language of the text ('en', 'de-CH', …): selects the language's rules (abbreviation
   * lists, quote direction, ':' or ';' as terminators; src/text/languages, docs/segmentation.md).
   * A language without rules of its own uses English. `'auto'` picks the rules of each segment
   * from the script of its first letter (Latin → en, Cyrillic → ru, Han → zh, kana → ja, …).
   * Script terminators (。 । ؟ ։ ። ။ …) work in every language.
   * @default 'en'
   */
  language?: string;
  /**
   * Cut the first segment of each turn at a clause boundary (comma, colon, semicolon, dash,
   * ，、：) once it is at least `minLength` characters long: the first audio of a turn matters most.
   * @default true (session.eager_first)
   */
  eagerFirst?: boolean;
  /**
   * Minimum length in characters of a segment cut anywhere but at a sentence end: the eager
   * first clause, and the clause a run-on sentence is cut at. Sentences are never merged: a
   * short sentence ("Sure!") is its own prosodic unit and speaking it early lowers latency.
   * @default 20 (session.min_segment_chars)
   */
  minLength?: number;
  /**
   * Maximum length in characters of a segment. Longer run-on text is cut at its last clause
   * boundary (when that leaves at least `minLength`), else at its last word boundary; never
   * inside a word or number (a single token longer than this is kept whole up to
   * `maxSegmentChars`).
   * @default 300 (session.soft_max_segment_chars)
   */
  maxLength?: number;
  /**
   * Hard cap in UTF-16 code units of every segment, whatever its text: a token longer than this
   * (99,000 digits) is cut at the last grapheme boundary within the cap (never inside a surrogate
   * pair, a combining sequence or an emoji sequence; a single grapheme longer than the cap is cut
   * between code points). Cuts are the same however the text is split into deltas. Takes effect
   * over `maxLength` when smaller. The gateway passes `session.max_segment_chars`.
   * @default 600 (session.max_segment_chars)
   */
  maxSegmentChars?: number;
}

export type ResolvedSegmenterOptions = Readonly<Required<SegmenterOptions>>;

/** The gateway's defaults (session.* in src/config.ts, their one owner). */
export const DEFAULT_SEGMENTER_OPTIONS: ResolvedSegmenterOptions = Object.freeze({
  language: 'en',
  eagerFirst: SESSION_DEFAULTS.eager_first,
  minLength: SESSION_DEFAULTS.min_segment_chars,
  maxLength: SESSION_DEFAULTS.soft_max_segment_chars,
  maxSegmentChars: SESSION_DEFAULTS.max_segment_chars,
});

export interface Segmenter {
  /**
   * Appends a text delta; returns the segments it completed (trimmed, non-empty). Most pushes
   * complete none and return one shared, frozen empty array: the result is read-only.
   */
  push(delta: string): readonly string[];
  /** End of turn: returns every remaining segment; the segmenter is then ready for a new turn. */
  flush(): readonly string[];
  /**
   * The session's idle timer fired: returns what can be spoken now (pending sentences, and the
   * buffered text up to its last complete word). The turn goes on.
   */
  idle(): readonly string[];
  /** Drops everything buffered (barge-in) and starts a new turn. */
  reset(): void;
  readonly options: ResolvedSegmenterOptions;
}

export class SegmenterOptionsError extends VoicegateError<'invalid_segmenter_options'> {
  constructor(message: string) {
    super('invalid_segmenter_options', message);
  }
}

export function createSegmenter(options: SegmenterOptions = {}): Segmenter {
  return new StreamingSegmenter(resolveOptions(options));
}

function resolveOptions(options: SegmenterOptions): ResolvedSegmenterOptions {
  const resolved = { ...DEFAULT_SEGMENTER_OPTIONS };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  const { minLength, maxLength, maxSegmentChars } = resolved;
  if (!Number.isInteger(minLength) || minLength < 0) throw new SegmenterOptionsError(`minLength must be an integer ≥ 0, got ${minLength}`);
  if (!Number.isInteger(maxLength) || maxLength < 16) throw new SegmenterOptionsError(`maxLength must be an integer ≥ 16, got ${maxLength}`);
  if (minLength >= maxLength) throw new SegmenterOptionsError(`minLength (${minLength}) must be below maxLength (${maxLength})`);
  if (!Number.isInteger(maxSegmentChars) || maxSegmentChars < 16) throw new SegmenterOptionsError(`maxSegmentChars must be an integer ≥ 16, got ${maxSegmentChars}`);
  return Object.freeze(resolved);
}

/** A decision needs more text than has arrived. */
const NEED = -2;
/** Not a boundary; the scan resumes at `resumeAt`. */
const NO = -1;

const P_NONE = 0;
const P_TERM = 1;
const P_CJK = 2;
const P_NEWLINE = 3;
const P_LIST = 4;

/** Longest next token a decision looks at. */
const TOKEN_WINDOW = 64;
/** A bracket left open longer than this no longer hides terminators (unbalanced LLM text). */
const MAX_BRACKET_SPAN = 200;

const LS_START = 0;
const LS_HASH = 1;
const LS_FENCE = 2;
const LS_DONE = 3;

/** What a push that completes no segment returns. */
const NONE: readonly string[] = Object.freeze([]);

const DOT = 46;
const SPACE = 32;

/** Code units of a new segmenter's buffer: several segments of text, so that it fills up rarely. */
const MIN_CAPACITY = 256;
/** A buffer larger than this shrinks once at most a quarter of it is in use. */
const MAX_IDLE_CAPACITY = 4096;
/** `Uint16Array` shares the byte order of Node's 'utf16le' encoding (not on big-endian hosts). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** From this length on, a delta is copied in natively (a call costs more than a short loop). */
const NATIVE_COPY_FROM = LITTLE_ENDIAN ? 64 : Infinity;

class StreamingSegmenter implements Segmenter {
  readonly options: ResolvedSegmenterOptions;
  /** Rules of the current segment: fixed, or with `auto` chosen at its first letter. */
  private rules: LanguageRules;
  private readonly auto: boolean;
  /**
   * `auto` and no letter of the current segment seen yet: its rules are not chosen. They are
   * chosen lazily, where rules are needed (a decision, a quote, ':' or ';'), from the first
   * letter before that point, so the per-character loop does not look at scripts.
   */
  private scriptPending: boolean;
  /** Where the search for the segment's first letter goes on. */
  private scriptFrom = 0;
  private readonly maxLength: number;
  private readonly minLength: number;
  private readonly maxSegmentChars: number;
  private readonly eagerFirst: boolean;

  /**
   * The buffered text as UTF-16 code units, up to `len`; emitted text before `segStart` is
   * dropped when the array is full (or larger than it needs to stay). The scan and the decisions read characters from here. A string
   * grown by `+= delta` would be a cons string, one per push, that the next decision flattens:
   * a copy of the segment per piece when the text comes 1–4 characters at a time. Strings are
   * made only where one is needed (a segment, an abbreviation key), by `text()`.
   */
  private codes = new Uint16Array(MIN_CAPACITY);
  /** `codes` as bytes, for Node's native UTF-16 copy of a long delta in and of a segment out. */
  private bytes = Buffer.from(this.codes.buffer);
  private len = 0;
  /**
   * The last delta, which the buffer ends with, and its index in the buffer: `text()` slices it
   * for a span inside it (text pushed whole: no copy at all).
   */
  private src = '';
  private srcStart = 0;
  /** Where a push collects the segments it completes; empty between pushes. */
  private completed: string[] = [];
  /** Next character to classify. */
  private pos = 0;
  private segStart = 0;
  private prevCode = SPACE;
  private prevKind = K_SPACE;

  private pending = P_NONE;
  private pendingAt = 0;
  private resumeAt = 0;
  /** While pending: retry once the buffer reaches this length… */
  private waitLen = 0;
  /** …or once whitespace appears at or after this index (-1: not waiting for whitespace). */
  private waitSpaceFrom = -1;

  private lastSpace = -1;
  private lastClause = -1;
  private lastCjkBreak = -1;
  private depth = 0;
  private depthOpenedAt = 0;
  private messyWs = false;
  private firstTokenChecked = false;
  private listNumber = 0;
  private listLetter = 0;
  private listCheckedAt = -1;

  private lineState = LS_START;
  private lineCount = 0;
  private lineChar = 0;
  /** The current line is a heading, table row or code fence: its end is always a boundary. */
  private lineHard = false;
  private inFence = false;
  private emittedInTurn = 0;

  constructor(options: ResolvedSegmenterOptions) {
    this.options = options;
    this.auto = options.language.toLowerCase() === AUTO;
    this.rules = this.auto ? rulesForScript(S_NONE) : rulesFor(options.language);
    this.scriptPending = this.auto;
    this.maxSegmentChars = options.maxSegmentChars;
    this.maxLength = Math.min(options.maxLength, options.maxSegmentChars);
    this.minLength = Math.min(options.minLength, this.maxLength - 1);
    this.eagerFirst = options.eagerFirst;
  }

  push(delta: string): readonly string[] {
    if (delta.length === 0) return NONE;
    this.append(delta);
    if (this.pending !== P_NONE && this.len < this.waitLen) {
      if (this.waitSpaceFrom < 0 || !hasSpaceFrom(delta, Math.max(this.waitSpaceFrom - this.srcStart, 0))) return NONE;
    }
    // Most pushes complete nothing: no array is made for them (one per token adds up to
    // scavenges); `completed` becomes the result only when a segment went into it.
    const out = this.completed;
    this.scan(false, out);
    this.giveBack();
    if (out.length === 0) return NONE;
    this.completed = [];
    return out;
  }

  flush(): readonly string[] {
    const out: string[] = [];
    this.scan(true, out);
    if (this.segStart < this.len) this.emit(this.len, out);
    this.reset();
    return out;
  }

  idle(): readonly string[] {
    const out: string[] = [];
    this.scan(true, out);
    const n = this.len;
    if (this.segStart < n) {
      const last = this.codes[n - 1];
      // A trailing letter or digit may be half a word: keep it for the next delta.
      if (isCjk(last) || !(isLetter(last) || isDigit(last))) this.emit(n, out);
      else {
        const wordBreak = Math.max(this.lastSpace, this.lastCjkBreak);
        if (wordBreak > this.segStart) {
          this.emit(wordBreak, out);
          this.messyWs = true;
        }
      }
    }
    this.giveBack();
    return out;
  }

  reset(): void {
    this.len = 0;
    this.src = '';
    this.srcStart = 0;
    this.fitCapacity();
    this.pos = 0;
    this.segStart = 0;
    this.prevCode = SPACE;
    this.prevKind = K_SPACE;
    this.pending = P_NONE;
    this.waitLen = 0;
    this.waitSpaceFrom = -1;
    this.lastSpace = -1;
    this.lastClause = -1;
    this.lastCjkBreak = -1;
    this.depth = 0;
    this.messyWs = false;
    this.firstTokenChecked = false;
    this.listNumber = 0;
    this.listLetter = 0;
    this.listCheckedAt = -1;
    this.lineState = LS_START;
    this.lineCount = 0;
    this.lineHard = false;
    this.inFence = false;
    this.emittedInTurn = 0;
    this.scriptPending = this.auto;
    this.scriptFrom = 0;
  }

  // ---- the buffer ----

  /** Appends a delta's code units: a long one by one native copy, a token's few by hand. */
  private append(delta: string): void {
    const length = delta.length;
    if (this.len + length > this.codes.length) {
      // Full: drop the emitted text first (rather than after every push: a copy per segment).
      this.compact();
      if (this.len + length > this.codes.length) this.resize(this.len + length);
    }
    const start = this.len;
    const end = start + length;
    const codes = this.codes;
    if (length <= 4) {
      // An LLM token is 1–4 characters: unrolled, as a loop of random length 1–4 mispredicts
      // its exit on most pushes (a third of the cost of a push in 1–4 character pieces).
      codes[start] = delta.charCodeAt(0);
      if (length > 1) {
        codes[start + 1] = delta.charCodeAt(1);
        if (length > 2) {
          codes[start + 2] = delta.charCodeAt(2);
          if (length > 3) codes[start + 3] = delta.charCodeAt(3);
        }
      }
    } else if (length < NATIVE_COPY_FROM) {
      for (let i = 0; i < length; i++) codes[start + i] = delta.charCodeAt(i);
    } else this.bytes.write(delta, 2 * start, 'utf16le');
    this.len = end;
    this.src = delta;
    this.srcStart = start;
  }

  /**
   * The buffered text from s to e: a slice of the last delta when it holds the span (text
   * pushed whole), else a copy out of `codes` (a segment that came in pieces).
   */
  private text(s: number, e: number): string {
    if (s >= this.srcStart) return this.src.slice(s - this.srcStart, e - this.srcStart);
    if (e - s <= 16) {
      // An abbreviation key or a short sentence: String.fromCharCode eight code units at a time
      // costs less than the native call below up to about 16 (measured, Node 20).
      const c = this.codes;
      let t = '';
      let p = s;
      for (; p + 8 <= e; p += 8) t += String.fromCharCode(c[p], c[p + 1], c[p + 2], c[p + 3], c[p + 4], c[p + 5], c[p + 6], c[p + 7]);
      for (; p < e; p++) t += String.fromCharCode(c[p]);
      return t;
    }
    return LITTLE_ENDIAN ? this.bytes.toString('utf16le', 2 * s, 2 * e) : String.fromCharCode(...this.codes.subarray(s, e));
  }

  /** Moves the buffered text to a new array of at least `min` code units. */
  private resize(min: number): void {
    let capacity = MIN_CAPACITY;
    while (capacity < min) capacity *= 2;
    const codes = new Uint16Array(capacity);
    codes.set(this.codes.subarray(0, this.len));
    this.codes = codes;
    this.bytes = Buffer.from(codes.buffer);
  }

  /** An array grown for one long delta (a whole text in one push) is given back once its text is consumed. */
  private fitCapacity(): void {
    if (this.codes.length > MAX_IDLE_CAPACITY && this.len * 4 <= this.codes.length) this.resize(this.len * 2);
  }

  /** After a push: a grown array is not kept for the emitted text it holds. */
  private giveBack(): void {
    if (this.codes.length > MAX_IDLE_CAPACITY) this.compact();
  }

  // ---- scanning ----

  private scan(final: boolean, out: string[]): void {
    for (;;) {
      if (this.pending !== P_NONE) {
        const r = this.decide(final);
        if (r === NEED) return;
        const kind = this.pending;
        this.pending = P_NONE;
        if (r === NO) {
          this.moveTo(this.resumeAt);
          // A decision skips its terminator run: the hard cap is checked here for those characters.
          if (this.pos - this.segStart >= this.maxSegmentChars + 2) this.hardCut(out);
          if (kind === P_NEWLINE) {
            // A hard-wrapped line goes on: the line break is a space, and a word boundary.
            this.startLine();
            this.messyWs = true;
            this.lastSpace = this.pendingAt;
          }
        } else {
          this.emit(r, out);
          if (r > this.pos) this.moveTo(r);
        }
        continue;
      }
      if (!this.run(out)) return;
    }
  }

  private moveTo(p: number): void {
    this.pos = p;
    if (p > 0) {
      this.prevCode = this.codes[p - 1];
      this.prevKind = kindOf(this.prevCode);
    }
  }

  /** Classifies characters until a candidate needs a decision (true) or the text runs out (false). */
  private run(out: string[]): boolean {
    const b = this.codes;
    const n = this.len;
    let pos = this.pos;
    let prev = this.prevCode;
    let prevKind = this.prevKind;
    while (pos < n) {
      const c = b[pos];
      const k = kindOf(c);
      if (this.lineState !== LS_DONE && k !== K_NEWLINE) this.probeLine(c, k);
      const atStart = pos === this.segStart;
      switch (k) {
        case K_PLAIN:
        case K_CJK:
          if (!atStart && (prevKind === K_SPACE || prevKind === K_NEWLINE)) {
            if ((this.listNumber > 0 || this.listLetter > 0) && pos !== this.listCheckedAt && ((c >= 48 && c <= 57) || (c >= 97 && c <= 122))) {
              this.suspend(P_LIST, pos, prev, prevKind);
              return true;
            }
          }
          if (k === K_CJK && prevKind === K_CJK) this.lastCjkBreak = pos;
          else if (prev === 0x2014 && !atStart) this.clausePoint(pos, out);
          break;
        case K_SPACE:
          if (atStart) {
            this.segStart = pos + 1;
            break;
          }
          if (c !== SPACE || prevKind === K_SPACE) this.messyWs = true;
          this.lastSpace = pos;
          if (!this.firstTokenChecked) this.checkFirstToken(pos);
          if (prevKind === K_CLAUSE || prevKind === K_DASH || (prev === 45 && pos - 2 >= this.segStart && isSpace(b[pos - 2]))) {
            this.clausePoint(pos, out);
          }
          break;
        case K_NEWLINE:
          if (atStart) {
            this.segStart = pos + 1;
            this.startLine();
            break;
          }
          this.suspend(P_NEWLINE, pos, prev, prevKind);
          return true;
        case K_TERM:
          this.suspend(P_TERM, pos, prev, prevKind);
          return true;
        case K_CLAUSE:
          // Armenian and Arabic ':' and the Greek question mark ';' end sentences.
          if (this.scriptPending && (c === 58 || c === 59)) this.chooseRules(pos);
          if (c === 58 ? this.rules.colonEnds : c === 59 && this.rules.semicolonQuestion) {
            this.suspend(P_TERM, pos, prev, prevKind);
            return true;
          }
          break;
        case K_QUOTE:
          if (this.scriptPending) this.chooseRules(pos);
          if (this.quoteOpens(c, prevKind, atStart)) {
            if (this.depth === 0) this.depthOpenedAt = pos;
            this.depth++;
          } else if (this.depth > 0) this.depth--;
          break;
        case K_CJK_TERM:
          this.suspend(P_CJK, pos, prev, prevKind);
          return true;
        case K_CJK_CLAUSE:
          this.clausePoint(pos + 1, out);
          break;
        case K_OPEN:
          if (this.depth === 0) this.depthOpenedAt = pos;
          this.depth++;
          break;
        case K_CLOSE:
          if (this.depth > 0) this.depth--;
          else if (c === 41) this.parenListMarker(pos);
          break;
        case K_BULLET:
          if (!atStart && (prevKind === K_SPACE || prevKind === K_NEWLINE)) this.emit(pos, out);
          break;
      }
      prev = c;
      prevKind = k;
      pos++;
      if (pos - this.segStart >= this.maxLength) this.forceCut(out, pos);
    }
    this.pos = pos;
    this.prevCode = prev;
    this.prevKind = prevKind;
    return false;
  }

  private suspend(kind: number, at: number, prev: number, prevKind: number): void {
    this.pending = kind;
    this.pendingAt = at;
    this.pos = at;
    this.prevCode = prev;
    this.prevKind = prevKind;
  }

  private clausePoint(p: number, out: string[]): void {
    this.lastClause = p;
    if (this.eagerFirst && this.emittedInTurn === 0 && this.depth === 0 && p - this.segStart >= this.minLength) {
      this.emit(p, out);
    }
  }

  private forceCut(out: string[], pos: number): void {
    let cut = -1;
    if (this.lastClause > this.segStart && this.lastClause - this.segStart >= this.minLength) cut = this.lastClause;
    else {
      const wordBreak = Math.max(this.lastSpace, this.lastCjkBreak);
      if (wordBreak > this.segStart) cut = wordBreak;
    }
    if (cut < 0) {
      // One token longer than the hard cap: cut it once the two code units after the cap are
      // here (a grapheme boundary at the cap depends on the character after it).
      if (pos - this.segStart >= this.maxSegmentChars + 2) this.hardCut(out);
      return;
    }
    this.emit(cut, out);
    // The text between the cut and the scan position was scanned for the old segment.
    this.messyWs = true;
    this.firstTokenChecked = true;
  }

  /** Cuts the segment at the last grapheme boundary within `maxSegmentChars`. */
  private hardCut(out: string[]): void {
    const start = this.segStart;
    // graphemeBoundary reads the two code units after the cap when they are here.
    const span = this.text(start, Math.min(this.len, start + this.maxSegmentChars + 2));
    this.emit(start + graphemeBoundary(span, 0, this.maxSegmentChars), out);
    this.messyWs = true;
    this.firstTokenChecked = true;
  }

  private emit(end: number, out: string[]): void {
    let text = cleanSegment(this.text(this.segStart, end), this.messyWs);
    this.segStart = end;
    this.depth = 0;
    this.messyWs = false;
    this.firstTokenChecked = false;
    this.scriptPending = this.auto;
    this.scriptFrom = end;
    if (text.length === 0) return;
    // The hard cap holds for every segment, also a terminator or closer run that a decision kept
    // whole: cut at the last space within the cap, else at a grapheme boundary.
    while (text.length > this.maxSegmentChars) {
      let cut = text.lastIndexOf(' ', this.maxSegmentChars);
      if (cut <= 0) cut = graphemeBoundary(text, 0, this.maxSegmentChars);
      out.push(text.slice(0, cut).trim());
      this.emittedInTurn++;
      text = text.slice(cut).trim();
    }
    if (text.length > 0) {
      out.push(text);
      this.emittedInTurn++;
    }
  }

  /** `auto`: the first letter of a segment (before `upTo`) chooses its rules by script. */
  private chooseRules(upTo: number): void {
    const b = this.codes;
    for (let p = Math.max(this.scriptFrom, this.segStart); p < upTo; p++) {
      const script = scriptOf(b[p]);
      if (script !== S_NONE) {
        this.rules = rulesForScript(script);
        this.scriptPending = false;
        return;
      }
    }
    this.scriptFrom = upTo;
  }

  /** Whether a direction-dependent quote (« » “ ” „) opens here, by the language's rules. */
  private quoteOpens(c: number, prevKind: number, atStart: boolean): boolean {
    const role = quoteRole(this.rules.quotes, c);
    if (role !== Q_CONTEXT) return role === Q_OPEN;
    // “ opens after a space, an opening bracket or a CJK character; after a word it closes (German „…“).
    return atStart || prevKind === K_SPACE || prevKind === K_NEWLINE || prevKind === K_OPEN || prevKind === K_QUOTE || prevKind >= K_CJK_TERM;
  }

  /** A closing quote or bracket that stays with the sentence after its terminator. */
  private closesAfterTerm(c: number): boolean {
    if (!isCloser(c)) return false;
    return kindOf(c) !== K_QUOTE || quoteRole(this.rules.quotes, c) !== Q_OPEN;
  }

  /** Drops the text of emitted segments so the buffer starts with the current one. */
  private compact(): void {
    const shift = this.segStart;
    if (shift === 0) return;
    this.codes.copyWithin(0, shift, this.len);
    this.len -= shift;
    this.srcStart -= shift;
    this.fitCapacity();
    this.segStart = 0;
    this.pos -= shift;
    this.pendingAt -= shift;
    this.lastSpace -= shift;
    this.lastClause -= shift;
    this.lastCjkBreak -= shift;
    this.depthOpenedAt -= shift;
    this.listCheckedAt -= shift;
    this.scriptFrom -= shift;
    this.waitLen -= shift;
    if (this.waitSpaceFrom >= 0) this.waitSpaceFrom = Math.max(0, this.waitSpaceFrom - shift);
  }

  // ---- markdown line structure ----

  private startLine(): void {
    this.lineState = LS_START;
    this.lineCount = 0;
    this.lineHard = false;
  }

  private probeLine(c: number, k: number): void {
    switch (this.lineState) {
      case LS_START:
        if (k === K_SPACE) return;
        if (c === 35 /* # */) {
          this.lineState = LS_HASH;
          this.lineCount = 1;
        } else if (c === 96 /* ` */ || c === 126 /* ~ */) {
          this.lineState = LS_FENCE;
          this.lineChar = c;
          this.lineCount = 1;
        } else {
          if (c === 124 /* | */) this.lineHard = true;
          this.lineState = LS_DONE;
        }
        return;
      case LS_HASH:
        if (c === 35 && this.lineCount < 6) this.lineCount++;
        else {
          if (k === K_SPACE) this.lineHard = true;
          this.lineState = LS_DONE;
        }
        return;
      case LS_FENCE:
        if (c === this.lineChar) {
          if (++this.lineCount === 3) {
            this.inFence = !this.inFence;
            this.lineHard = true;
            this.lineState = LS_DONE;
          }
        } else this.lineState = LS_DONE;
        return;
    }
  }

  // ---- decisions ----

  private need(length: number, spaceFrom: number): number {
    this.waitLen = length;
    this.waitSpaceFrom = spaceFrom;
    return NEED;
  }

  private decide(final: boolean): number {
    if (this.scriptPending) this.chooseRules(this.pendingAt);
    switch (this.pending) {
      case P_TERM:
        return this.decideTerm(final);
      case P_CJK:
        return this.decideCjk(final);
      case P_NEWLINE:
        return this.decideNewline(final);
      default:
        return this.decideList(final);
    }
  }

  /** End of the token starting at t (whitespace or the window limit), or NEED. */
  private tokenEnd(t: number, final: boolean): number {
    const b = this.codes;
    const n = this.len;
    const limit = t + TOKEN_WINDOW;
    let e = t;
    while (e < n && e < limit && !isSpace(b[e])) e++;
    if (e === n && e < limit && !final) return this.need(limit, n);
    return e;
  }

  /** Bracket depth at the candidate, ignoring a bracket left open too long. */
  private effectiveDepth(at: number): number {
    return this.depth > 0 && at - this.depthOpenedAt > MAX_BRACKET_SPAN ? 0 : this.depth;
  }

  /** A terminator run (K_TERM, and ':' or ';' where the language ends sentences with them), with ". . ." spaced ellipses. */
  private decideTerm(final: boolean): number {
    const b = this.codes;
    const n = this.len;
    const i = this.pendingAt;
    let j = i;
    let dots = 0;
    let bangOrQuestion = false;
    let ellipsisChar = false;
    let spaced = false;
    const cap = this.segStart + this.maxSegmentChars;
    const rules = this.rules;
    for (;;) {
      // A hostile run of terminators is decided at the hard cap, not rescanned on every delta.
      if (j > i && j >= cap) break;
      if (j >= n) {
        if (!final) return this.need(n + 1, -1);
        break;
      }
      const c = b[j];
      if (c === DOT) dots++;
      else if (c === 33 || c === 63 || c === 0x203d || c === 0x037e || (c >= 0x203c && c <= 0x2049 && c !== 0x2026)) bangOrQuestion = true;
      else if ((c === 58 && rules.colonEnds) || (c === 59 && rules.semicolonQuestion)) bangOrQuestion = true;
      else if (c === 0x2026) ellipsisChar = true;
      else if (c === SPACE && dots > 0 && !bangOrQuestion && !ellipsisChar) {
        // ". . ." — a space continues the run only before a dot that stands alone
        if (j + 1 >= n) {
          if (!final) return this.need(j + 2, -1);
          break;
        }
        if (b[j + 1] !== DOT) break;
        if (j + 2 >= n) {
          if (!final) return this.need(j + 3, -1);
        } else {
          const d = b[j + 2];
          if (!(isSpace(d) || d === DOT || isCloser(d))) break;
        }
        spaced = true;
      } else break;
      j++;
    }

    const segStart = this.segStart;
    const before = i > segStart ? b[i - 1] : SPACE;
    const attached = !isSpace(before);
    const ellipsis = ellipsisChar || dots >= 2;

    let depth = this.effectiveDepth(i);
    let k = j;
    while (k < n && k < cap) {
      const c = b[k];
      if (!this.closesAfterTerm(c)) break;
      if (depth > 0 && isClosing(c)) depth--;
      k++;
    }
    this.resumeAt = j;
    // A run that reached the hard cap is no sentence end: the cap cuts it (the same answer
    // whether or not more text has arrived).
    if (k >= cap) return NO;
    if (k >= n && !final) return this.need(k + 1, -1);
    // "[...]" and "(...)" mark an omission inside a sentence.
    if (ellipsis && kindOf(before) === K_OPEN && k > j && kindOf(b[j]) === K_CLOSE) return NO;
    // Inside a quotation or brackets; a closing quote after a space (French « … ») is looked at below.
    if (depth > 0 && (k >= n || !isSpace(b[k]))) return NO;
    if (k >= n) return k;

    const c = b[k];
    if (!isSpace(c)) {
      // "raak. ...en toen": the period ends the sentence, the ellipsis glued to the next word opens the next.
      if (ellipsis && attached && spaced && b[i + 1] === SPACE) return i + 1;
      if (isCjk(c)) {
        if (bangOrQuestion) return k;
        // "项目支持U.S.标准": an acronym or abbreviation glued to CJK text goes on.
        return !ellipsis && isLetter(before) && !isDigit(before) && !this.latinAbbreviationBefore(i) ? k : NO;
      }
      if (bangOrQuestion || ellipsis || k !== j) return NO;
      return this.decideGlued(i, k, final);
    }

    // Whitespace follows: find the next token.
    let end = k;
    let m = k;
    let newline = false;
    let t = 0;
    for (;;) {
      while (m < n && isSpace(b[m])) {
        if (isNewline(b[m])) newline = true;
        if (++m >= cap) return depth > 0 ? NO : end;
      }
      if (m >= n) {
        if (!final) return this.need(m + 1, -1);
        return end;
      }
      if (newline) return depth > 0 ? NO : end;
      t = m;
      // A lone closing quote after a space (French « … ») belongs to this sentence.
      if (this.isLoneCloser(t, t + 1)) {
        const e = this.tokenEnd(t, final);
        if (e === NEED) return NEED;
        if (this.isLoneCloser(t, e)) {
          for (let p = t; p < e; p++) if (depth > 0 && isClosing(b[p])) depth--;
          end = e;
          m = e;
          continue;
        }
      }
      break;
    }
    if (depth > 0) return NO;
    // Most decisions need only the first letter of the next word: decide as early as possible.
    let f = t;
    while (f < n && isOpener(b[f])) f++;
    if (f >= n && !final) return this.need(f + 1, -1);
    const nf = f < n ? b[f] : SPACE;
    // "compounds. . . . The", "raak. ...en toen": the period ends the sentence, the ellipsis opens the next.
    if (ellipsis && attached && spaced && b[i + 1] === SPACE) return i + 1;
    if (isLower(nf)) return NO;
    // Dialogue: "— Ты придёшь? — спросил он." A dash and a lower-case word go on.
    if (nf === 0x2014 || nf === 0x2013 || nf === 45) {
      let d = f + 1;
      while (d < n && b[d] === SPACE) d++;
      if (d >= n && !final) return this.need(d + 1, -1);
      if (d > f + 1 && d < n && isLower(b[d])) return NO;
    }
    if (bangOrQuestion) return end;
    if (ellipsis) {
      // Three spaced dots after a space: an omission inside the sentence.
      if (!attached && spaced && dots === 3) return NO;
      return end;
    }
    return this.decidePeriod(i, end, f, nf, final);
  }

  /** A token of closing quotes or brackets only (not markdown * _ ` ~, not an opening quote). */
  private isLoneCloser(t: number, e: number): boolean {
    const b = this.codes;
    for (let p = t; p < e; p++) {
      const c = b[p];
      if (!this.closesAfterTerm(c) || c === 42 || c === 95 || c === 96 || c === 126) return false;
    }
    return true;
  }

  /** "项目支持U.S." / "e.g.": the Latin word glued before the period is an acronym or an abbreviation. */
  private latinAbbreviationBefore(i: number): boolean {
    const b = this.codes;
    let p = i;
    while (p > this.segStart) {
      const c = b[p - 1];
      if (c === DOT || (isLetter(c) && !isCjk(c))) p--;
      else break;
    }
    const key = this.text(p, i).toLowerCase();
    return isAcronym(key) || this.rules.nonFinal.has(key);
  }

  /** The next word (letters from f), or null when it may not be complete yet (NEED set). */
  private nextWord(f: number, final: boolean): string | null {
    const b = this.codes;
    const n = this.len;
    let p = f;
    while (p < n && p - f < TOKEN_WINDOW && isLetter(b[p])) p++;
    if (p === n && p - f < TOKEN_WINDOW && !final) {
      this.need(n + 1, -1);
      return null;
    }
    return this.text(f, p).toLowerCase();
  }

  /** "world.Today", "1,000.That": sentences glued without a space (not e-mail, URL, domain). */
  private decideGlued(i: number, k: number, final: boolean): number {
    const b = this.codes;
    const n = this.len;
    const segStart = this.segStart;
    if (i <= segStart) return NO;
    const c = b[k];
    const before = b[i - 1];
    if (!isUpper(c)) return NO;
    const wordBefore = (isLower(before) && i - 2 >= segStart && isLetter(b[i - 2])) || isDigit(before);
    if (!wordBefore) return NO;
    if (k + 1 >= n) return final ? NO : this.need(k + 2, -1);
    // "жағдайы.XVIII ғасыр": a capital of another script after the period starts a sentence.
    const otherScript = scriptOf(c) !== scriptOf(before) && !isDigit(before);
    if (!otherScript && !isLower(b[k + 1])) return NO;
    const ws = this.wordStart(i);
    const te = this.tokenEnd(k, final);
    if (te === NEED) return NEED;
    for (let p = ws; p < te; p++) {
      const ch = b[p];
      if (ch === 64 /* @ */ || ch === 47 /* / */) return NO;
    }
    let wa = ws;
    while (wa < i && isOpener(b[wa])) wa++;
    const word = this.text(wa, i).toLowerCase();
    if (word === 'www' || word.startsWith('www.') || this.rules.nonFinal.has(word)) return NO;
    return k;
  }

  /** A single period followed by a space and a capital letter, a digit or a symbol. */
  private decidePeriod(i: number, end: number, f: number, nf: number, final: boolean): number {
    const b = this.codes;
    const rules = this.rules;
    const ws = this.wordStart(i);
    let wa = ws;
    while (wa < i && (isOpener(b[wa]) || kindOf(b[wa]) === K_BULLET)) wa++;
    // An elided article is not part of the word: "l'Ing." → "Ing.", "dell'Avv." → "Avv.".
    for (let p = wa + 1; p < i - 1 && p <= wa + 5; p++) {
      const ch = b[p];
      if (ch === 39 || ch === 0x2019) {
        wa = p + 1;
        break;
      }
    }
    if (wa === i) return end;
    const nfUpper = isUpper(nf);
    const nfDigit = isDigit(nf);
    const length = i - wa;
    const first = b[wa];

    const numberKind = classifyNumber(b, wa, i);
    if (numberKind !== NOT_A_NUMBER) {
      if (numberKind === SMALL_INTEGER && this.atItemStart(ws)) {
        this.listNumber = Number(this.text(wa, i));
        this.listLetter = 0;
        return NO;
      }
      if (!rules.ordinalDates) return end;
      const next = this.nextWord(f, final);
      if (next === null) return NEED;
      return rules.months.has(next) ? NO : end;
    }
    if (length === 1 && first >= 97 && first <= 122 && nfUpper && this.atItemStart(ws) && (first === 97 || first === this.listLetter + 1)) {
      this.listLetter = first;
      this.listNumber = 0;
      return NO;
    }
    const key = this.text(wa, i).toLowerCase();
    if (rules.nonFinal.has(key)) return NO;
    if (nfDigit && rules.beforeNumber.has(key)) return NO;
    // "XII. Pluk": a Roman numeral with a period is an ordinal where "12." is (Slovak, German).
    if (rules.ordinalDates && length >= 2 && isRomanNumeral(b, wa, i)) return NO;
    if (length === 1 && isUpper(first)) {
      // An initial (J. R. R. Tolkien), unless it is "I" or a letter ending a lower-case phrase.
      if (!this.prevWordLower(ws)) return NO;
      if (rules.pronounI && first === 73) return end;
      if (!nfUpper) return NO;
      const next = this.nextWord(f, final);
      if (next === null) return NEED;
      // "наук А. И. Семенов": another initial follows.
      if (next.length === 1 && f + 1 < this.len && b[f + 1] === DOT) return NO;
      return rules.starters.has(next) ? end : NO;
    }
    if (isAcronym(key)) {
      if (!nfUpper) return nfDigit ? NO : end;
      const next = this.nextWord(f, final);
      if (next === null) return NEED;
      if (rules.starters.has(next)) return end;
      // "3 p.m. EST": a time zone goes on.
      if (rules.timeSuffixes.has(key) && TIME_ZONES.has(next)) return NO;
      // "He left at 6 P.M. Mr. Smith…" ends; "At 5 a.m. Mr. Smith went…" goes on.
      if (rules.timeSuffixes.has(key) && !this.opensSentence(ws)) return end;
      return NO;
    }
    return end;
  }

  /** A K_CJK_TERM terminator (full-width 。！？；｡． or another script's । ؟ ։ …): no space needed after it. */
  private decideCjk(final: boolean): number {
    const b = this.codes;
    const n = this.len;
    const i = this.pendingAt;
    const c = b[i];
    if (c === 0xff0e && i > this.segStart && isDigit(b[i - 1])) {
      // ３．２９ is a decimal
      if (i + 1 >= n) {
        if (!final) return this.need(i + 2, -1);
      } else if (isDigit(b[i + 1])) {
        this.resumeAt = i + 1;
        return NO;
      }
    }
    const cap = this.segStart + this.maxSegmentChars;
    let j = i + 1;
    while (j < n && j < cap && isTerminator(b[j])) j++;
    let depth = this.effectiveDepth(i);
    let closed = false;
    let k = j;
    while (k < n && k < cap) {
      const ch = b[k];
      if (!this.closesAfterTerm(ch)) break;
      if (depth > 0 && isClosing(ch)) {
        depth--;
        closed = true;
      }
      k++;
    }
    this.resumeAt = j;
    if (k >= cap) return NO;
    if (k >= n && !final) return this.need(k + 1, -1);
    if (depth > 0) return NO;
    if (closed && k < n) {
      const q = b[k];
      // 「…です。」と言った: a quotation followed by a quotative particle goes on.
      if (q === 0x3068 /* と */ || q === 0x3063 /* っ */) return NO;
      // 「…。」他说 / “…。”他说: the attribution that follows a quotation belongs to its sentence.
      if (this.rules.quoteAttribution && isCjk(q)) return NO;
    }
    return k;
  }

  /**
   * A line break. Blank lines, markdown headings, table rows and code are boundaries; a single
   * line break inside a sentence (hard-wrapped text) is a space.
   */
  private decideNewline(final: boolean): number {
    const i = this.pendingAt;
    if (this.inFence || this.lineHard) return i;
    const b = this.codes;
    const n = this.len;
    let m = i + 1;
    let lines = 1;
    const cap = this.segStart + this.maxSegmentChars;
    while (m < n && isSpace(b[m])) {
      if (isNewline(b[m])) lines++;
      if (++m >= cap) return i;
    }
    if (lines >= 2) return i;
    if (m >= n) return final ? i : this.need(m + 1, -1);
    const next = b[m];
    let p = i - 1;
    while (p > this.segStart && isSpace(b[p])) p--;
    const last = b[p];
    this.resumeAt = i + 1;
    const lastKind = kindOf(last);
    if (isLower(next) && last !== 58 /* : */ && last !== 0xff1a && !isTerminator(last)) return NO;
    if (isCjk(next) && lastKind === K_CJK) return NO;
    return i;
  }

  /** A token mid-sentence that may be the next item of an inline list ("… 2. The second"). */
  private decideList(final: boolean): number {
    const b = this.codes;
    const n = this.len;
    const t = this.pendingAt;
    const e = this.tokenEnd(t, final);
    if (e === NEED) return NEED;
    this.resumeAt = t;
    this.listCheckedAt = t;
    const value = listMarkerValue(b, t, e);
    if (value === 0 || this.atItemStart(t)) return NO;
    const expected = value >= 97 ? this.listLetter + 1 : this.listNumber + 1;
    if ((value >= 97 ? this.listLetter : this.listNumber) === 0 || value !== expected) return NO;
    let f = e;
    while (f < n && (b[f] === SPACE || isOpener(b[f]))) f++;
    if (f >= n) return final ? NO : this.need(f + 1, -1);
    const nf = b[f];
    return isUpper(nf) || isDigit(nf) ? t : NO;
  }

  // ---- helpers over the current segment ----

  /** Whether the token at ws is the first of its segment (after a bullet). */
  private atItemStart(ws: number): boolean {
    const b = this.codes;
    let p = this.segStart;
    while (p < ws) {
      const c = b[p];
      if (!(isSpace(c) || kindOf(c) === K_BULLET || c === 45 || c === 42 || c === 43)) return false;
      p++;
    }
    return true;
  }

  /** Whether the word before the token at ws starts with a lower-case letter. */
  private prevWordLower(ws: number): boolean {
    const b = this.codes;
    let p = ws - 1;
    while (p >= this.segStart && isSpace(b[p])) p--;
    if (p < this.segStart) return false;
    while (p > this.segStart && !isSpace(b[p - 1])) p--;
    while (p < ws && isOpener(b[p])) p++;
    return isLower(b[p]);
  }

  /** Whether at most two words precede the token at ws in this segment ("At 5 a.m."). */
  private opensSentence(ws: number): boolean {
    const b = this.codes;
    let words = 0;
    let inWord = false;
    for (let p = this.segStart; p < ws; p++) {
      const space = isSpace(b[p]);
      if (!space && !inWord && ++words > 2) return false;
      inWord = !space;
    }
    return true;
  }

  /** The first token of a segment decides whether an inline list goes on. */
  private checkFirstToken(end: number): void {
    this.firstTokenChecked = true;
    if (this.listNumber === 0 && this.listLetter === 0) return;
    const b = this.codes;
    let s = this.segStart;
    while (s < end && isSpace(b[s])) s++;
    if (end - s === 1 && kindOf(b[s]) === K_BULLET) {
      this.firstTokenChecked = false;
      return;
    }
    if (listMarkerValue(b, s, end) === 0) {
      this.listNumber = 0;
      this.listLetter = 0;
    }
  }

  /** Start of the word that ends at `i` (back to a space or the segment's start). */
  private wordStart(i: number): number {
    const b = this.codes;
    let ws = i;
    while (ws > this.segStart && !isSpace(b[ws - 1])) ws--;
    return ws;
  }

  /** "1)" or "a)" opening a segment starts an inline list. */
  private parenListMarker(pos: number): void {
    const b = this.codes;
    const ws = this.wordStart(pos);
    if (!this.atItemStart(ws)) return;
    const value = listMarkerValue(b, ws, pos + 1);
    if (value >= 97) {
      this.listLetter = value;
      this.listNumber = 0;
    } else if (value > 0) {
      this.listNumber = value;
      this.listLetter = 0;
    }
  }
}

// ---- pure helpers ----

function hasSpaceFrom(s: string, from: number): boolean {
  for (let p = from; p < s.length; p++) if (isSpace(s.charCodeAt(p))) return true;
  return false;
}

/** A closing bracket or a quote; with `closesAfterTerm` (which excludes opening quotes), one that lowers the depth. */
function isClosing(c: number): boolean {
  const k = kindOf(c);
  return k === K_CLOSE || k === K_QUOTE;
}

function isRomanNumeral(b: Uint16Array, s: number, e: number): boolean {
  for (let p = s; p < e; p++) {
    const c = b[p];
    if (c !== 73 && c !== 86 && c !== 88 && c !== 76 && c !== 67 && c !== 68 && c !== 77) return false;
  }
  return true;
}

let graphemes: Intl.Segmenter | undefined;

/**
 * The last grapheme boundary p with from < p ≤ limit in s (s holds the two code units after
 * limit when the text has them: a boundary depends on the character after it). One grapheme
 * longer than the whole span (a run of combining marks) is cut between code points instead.
 * Runs only for a token past the hard cap, never in the per-character loop.
 */
export function graphemeBoundary(s: string, from: number, limit: number): number {
  graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let best = from;
  for (const { index } of graphemes.segment(s.slice(from, Math.min(s.length, limit + 2)))) {
    const p = from + index;
    if (p > limit) break;
    best = p;
  }
  if (best > from) return best;
  const c = s.charCodeAt(limit);
  return c >= 0xdc00 && c <= 0xdfff && limit - 1 > from ? limit - 1 : limit;
}

const NOT_A_NUMBER = 0;
const SMALL_INTEGER = 1;
const OTHER_NUMBER = 2;

/** 12 / 1.000.000 / $100.00 / 12,5 % — and whether it is a bare 1–3 digit integer (a list number). */
function classifyNumber(b: Uint16Array, s: number, e: number): number {
  let p = s;
  const c0 = b[p];
  if (c0 === 36 || c0 === 0x20ac || c0 === 0xa3 || c0 === 0xa5 || c0 === 35 || c0 === 43 || c0 === 45) p++;
  let digits = 0;
  let plain = p === s;
  for (; p < e; p++) {
    const c = b[p];
    if (isDigit(c)) digits++;
    else if (c === 44 || c === DOT || c === 39) plain = false;
    else if (c === 37 && p === e - 1) plain = false;
    else return NOT_A_NUMBER;
  }
  if (digits === 0) return NOT_A_NUMBER;
  return plain && digits <= 3 ? SMALL_INTEGER : OTHER_NUMBER;
}

/** "u.s", "e.g", "ll.aa.ii.rr", "ph.d": letter groups of 1–3 joined by single periods. */
function isAcronym(key: string): boolean {
  let group = 0;
  let groups = 0;
  for (let p = 0; p < key.length; p++) {
    const c = key.charCodeAt(p);
    if (c === DOT) {
      if (group === 0) return false;
      groups++;
      group = 0;
    } else if (isLetter(c)) {
      if (++group > 3) return false;
    } else return false;
  }
  return groups >= 1 && group > 0;
}

/**
 * Value of a list marker token: "2." "2)" "2.)" → 2, "b." "b)" → 98 (the letter's code),
 * optionally after a glued bullet ("⁃9."); 0 when the token is not a list marker.
 */
function listMarkerValue(b: Uint16Array, s: number, e: number): number {
  let p = s;
  while (p < e && kindOf(b[p]) === K_BULLET) p++;
  let value = 0;
  const c = p < e ? b[p] : 0;
  if (c >= 97 && c <= 122) {
    value = c;
    p++;
  } else {
    let digits = 0;
    while (p < e && b[p] >= 48 && b[p] <= 57) {
      value = value * 10 + b[p] - 48;
      p++;
      if (++digits > 3) return 0;
    }
    if (digits === 0) return 0;
  }
  // The rest of the token: "." ")" or ".)".
  if (p === e - 1) return b[p] === DOT || b[p] === 41 ? value : 0;
  return p === e - 2 && b[p] === DOT && b[p + 1] === 41 ? value : 0;
}

/** Trims, collapses whitespace runs to one space, and drops a line break between CJK characters. */
function cleanSegment(raw: string, messy: boolean): string {
  if (!messy) return raw.trim();
  const n = raw.length;
  let out = '';
  let last = 0;
  let i = 0;
  while (i < n) {
    if (!isSpace(raw.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i;
    let newline = false;
    while (j < n && isSpace(raw.charCodeAt(j))) {
      if (isNewline(raw.charCodeAt(j))) newline = true;
      j++;
    }
    if (j > i + 1 || raw.charCodeAt(i) !== SPACE) {
      out += raw.slice(last, i);
      const joinCjk = newline && i > 0 && j < n && isCjk(raw.charCodeAt(i - 1)) && isCjk(raw.charCodeAt(j));
      if (i > 0 && j < n && !joinCjk) out += ' ';
      last = j;
    }
    i = j;
  }
  out += raw.slice(last);
  return out.trim();
}
