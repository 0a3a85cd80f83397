import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME, NONE } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

/**
 * Arabic script: '؟' and '۔' are script terminators (chars.ts), '،' '؛' clause marks. Arabic
 * news text ends a heading or a lead with ':' ("سؤال وجواب:"), so ':' and a space end a sentence.
 * The script has no case: a period and a space end the sentence unless the word is an abbreviation.
 */
export const ar: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'ar',
  colonEnds: true,
  nonFinal: words(`${COMMON_NON_FINAL} د أ م ص ق ه`),
  beforeNumber: words(COMMON_BEFORE_NUMBER),
  starters: NONE,
  timeSuffixes: COMMON_TIME,
  months: NONE,
};
