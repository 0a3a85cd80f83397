import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, NONE } from './common.ts';
import { words, type LanguageRules } from './types.ts';
import { zh } from './zh.ts';

/** Korean: spaces between words and Latin punctuation (. ? !) as often as full-width marks. */
export const ko: LanguageRules = {
  ...zh,
  language: 'ko',
  quoteAttribution: false,
  nonFinal: words(COMMON_NON_FINAL),
  beforeNumber: words(COMMON_BEFORE_NUMBER),
  starters: NONE,
};
