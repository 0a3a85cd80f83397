import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME, NONE } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

/** Hindi and Marathi: '।' and '॥' end a sentence (script terminators, chars.ts); '.' as in English. */
export const hi: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'hi',
  nonFinal: words(`${COMMON_NON_FINAL} डॉ श्री श्रीमती कु सु`),
  beforeNumber: words(COMMON_BEFORE_NUMBER),
  starters: NONE,
  timeSuffixes: COMMON_TIME,
  months: NONE,
};
