/**
 * Abbreviation and word lists of one language. Words are lower case, without their final
 * period; inner periods stay (`e.g`, `u.s`). Each list answers one question the segmenter
 * asks at a period followed by a space and a capital letter or a digit.
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
  /** Whether "<number>. <Month>" is an ordinal date rather than a sentence end (German). */
  readonly ordinalDates: boolean;
  /** English: "I." after a lower-case word is the pronoun ending a sentence, not an initial. */
  readonly pronounI: boolean;
}

export function words(list: string): ReadonlySet<string> {
  return new Set(list.split(/\s+/).filter((w) => w.length > 0));
}
