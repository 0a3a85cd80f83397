import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME, NONE } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const hy: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'hy',
  // The Armenian full stop is '։' (U+0589, a script terminator); text often writes ':' for it,
  // and '.' is the Armenian comma-like pause ("հետևյալն է. պարզություն" goes on).
  colonEnds: true,
  nonFinal: words(COMMON_NON_FINAL),
  beforeNumber: words(COMMON_BEFORE_NUMBER),
  starters: NONE,
  timeSuffixes: COMMON_TIME,
  months: NONE,
};
