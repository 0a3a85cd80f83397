import { COMMON_TIME } from './common.ts';
import { QUOTES_CJK, SCRIPT_DEFAULTS, type LanguageRules } from './types.ts';
import { en } from './en.ts';

/**
 * Chinese: 。！？；｡． end a sentence without a space (chars.ts); 《》「」（）【】 hide them;
 * “ always opens (it follows 。 with no space), and 「…。」他说 / “…。”他说 goes on. Latin words
 * inside keep the English abbreviation lists: LLM output quotes English names and "U.S." in CJK text.
 */
export const zh: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'zh',
  quotes: QUOTES_CJK,
  quoteAttribution: true,
  nonFinal: en.nonFinal,
  beforeNumber: en.beforeNumber,
  starters: en.starters,
  timeSuffixes: COMMON_TIME,
  months: en.months,
};

