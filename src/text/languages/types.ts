/**
 * Rules of one language. Words are lower case, without their final period; inner periods stay
 * (`e.g`, `u.s`). Each word list answers one question the segmenter asks at a period followed
 * by a space and a capital letter or a digit; the other fields say which script-level marks end
 * a sentence and which quotes open and close in this language.
 */
export interface LanguageRules {
  /** BCP 47 base language these rules are for. */
  readonly language: string;
  /**
   * Never end a sentence, whatever follows: titles (Dr., Mt., Srta.), Latin connectives
   * (e.g., i.e., vs.), German spaced abbreviations (z. B., d. h.).
   */
  readonly nonFinal: ReadonlySet<string>;
  /** Do not end a sentence when a number follows: p. 5, No. 3, Fig. 2, months (Jan. 5), units. */
  readonly beforeNumber: ReadonlySet<string>;
  /**
   * Words that commonly start a sentence. After an ambiguous period (an acronym such as U.S.,
   * an initial, a.m.) a capitalized word from this list starts a new sentence; any other
   * capitalized word is read as a name that continues it ("the U.S. Government").
   */
  readonly starters: ReadonlySet<string>;
  /** Time-of-day suffixes (a.m., p.m.): a sentence ends after them unless they open it. */
  readonly timeSuffixes: ReadonlySet<string>;
  /** Month names: after "12." a month makes the number an ordinal date (German "12. Juni"). */
  readonly months: ReadonlySet<string>;
  /**
   * Whether "<number>. <Month>" is an ordinal date rather than a sentence end (German), and a
   * Roman numeral with a period is an ordinal ("XII. Pluk", Slovak).
   */
  readonly ordinalDates: boolean;
  /** English: "I." after a lower-case word is the pronoun ending a sentence, not an initial. */
  readonly pronounI: boolean;
  /** Quote direction: which of « » “ ” „ open and which close (see `quoteRoles`). */
  readonly quotes: QuoteRoles;
  /** ':' followed by a space ends a sentence (Armenian writes ':' for '։'; Arabic). */
  readonly colonEnds: boolean;
  /** ';' is the question mark (Greek). */
  readonly semicolonQuestion: boolean;
  /**
   * A quotation closed after a full-width terminator goes on when text follows at once:
   * 「…。」他说 / “…。”他说 is one sentence (Chinese, Japanese).
   */
  readonly quoteAttribution: boolean;
}

export function words(list: string): ReadonlySet<string> {
  return new Set(list.split(/\s+/).filter((w) => w.length > 0));
}

/** Opens a quotation. */
export const Q_OPEN = 1;
/** Closes a quotation. */
export const Q_CLOSE = 2;
/** “ where it may be either (English “…”, German „…“): closes after a letter, digit or terminator. */
export const Q_CONTEXT = 3;

/** Role of each direction-dependent double quote (K_QUOTE: « » “ ” „) in one language. */
export interface QuoteRoles {
  readonly guillemetLeft: number; // «
  readonly guillemetRight: number; // »
  readonly curlyLeft: number; // “
  readonly curlyRight: number; // ”
  readonly low: number; // „
}

/** English, French, Spanish, Italian, …: «…» and “…”; „ opens; “ after a word closes (German text in `auto`). */
export const QUOTES_DEFAULT: QuoteRoles = { guillemetLeft: Q_OPEN, guillemetRight: Q_CLOSE, curlyLeft: Q_CONTEXT, curlyRight: Q_CLOSE, low: Q_OPEN };
/** German, Danish, Czech, Slovak: „…“ and »…«. */
export const QUOTES_GERMAN: QuoteRoles = { guillemetLeft: Q_CLOSE, guillemetRight: Q_OPEN, curlyLeft: Q_CLOSE, curlyRight: Q_CLOSE, low: Q_OPEN };
/** Russian, Bulgarian, Ukrainian, Kazakh, Polish: «…» outside, „…“ (or „…”) inside. */
export const QUOTES_EAST: QuoteRoles = { guillemetLeft: Q_OPEN, guillemetRight: Q_CLOSE, curlyLeft: Q_CLOSE, curlyRight: Q_CLOSE, low: Q_OPEN };
/** Chinese, Japanese, Korean: “ always opens, even right after 。 (no space in between). */
export const QUOTES_CJK: QuoteRoles = { guillemetLeft: Q_OPEN, guillemetRight: Q_CLOSE, curlyLeft: Q_OPEN, curlyRight: Q_CLOSE, low: Q_OPEN };

/** Role of a K_QUOTE character. */
export function quoteRole(q: QuoteRoles, c: number): number {
  switch (c) {
    case 0xab:
      return q.guillemetLeft;
    case 0xbb:
      return q.guillemetRight;
    case 0x201c:
      return q.curlyLeft;
    case 0x201d:
      return q.curlyRight;
    default:
      return q.low;
  }
}

/** Defaults for the fields most languages share; a language file spreads it and overrides. */
export const SCRIPT_DEFAULTS = {
  quotes: QUOTES_DEFAULT,
  colonEnds: false,
  semicolonQuestion: false,
  quoteAttribution: false,
  ordinalDates: false,
  pronounI: false,
} as const;
