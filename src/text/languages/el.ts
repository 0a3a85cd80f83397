import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME, NONE } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const el: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'el',
  // ';' is the Greek question mark; '·' (ano teleia) is a semicolon (a clause mark).
  semicolonQuestion: true,
  nonFinal: words(`${COMMON_NON_FINAL} κ κα δρ καθ π.χ δηλ κλπ κ.λπ κ.ά βλ λ.χ σελ αρ τηλ οδ`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER} σελ αρ τηλ κεφ παρ ιαν φεβ μαρ απρ ιουν ιουλ αυγ σεπ οκτ νοε δεκ`),
  starters: NONE,
  timeSuffixes: COMMON_TIME,
  months: NONE,
};
