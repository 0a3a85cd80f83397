import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME, NONE } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

/**
 * Scripts whose sentence ends are script-level marks (chars.ts) and whose text has no
 * abbreviation lists here: Amharic (። ፧), Burmese (။), Khmer (។), Tibetan (།), Hebrew, Thai.
 * Their rules are the shared Latin lists only, for the English that LLM output mixes in.
 */
function scriptOnly(language: string): LanguageRules {
  return {
    ...SCRIPT_DEFAULTS,
    language,
    nonFinal: words(COMMON_NON_FINAL),
    beforeNumber: words(COMMON_BEFORE_NUMBER),
    starters: NONE,
    timeSuffixes: COMMON_TIME,
    months: NONE,
  };
}

export const am = scriptOnly('am');
export const my = scriptOnly('my');
export const km = scriptOnly('km');
export const bo = scriptOnly('bo');
export const he = scriptOnly('he');
export const th = scriptOnly('th');
