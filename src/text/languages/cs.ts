import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { QUOTES_GERMAN, SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

/** Czech and Slovak share most abbreviations. */
export const CZECH_SLOVAK_NON_FINAL = `${COMMON_NON_FINAL}
  ing mgr bc phdr rndr mudr judr doc prof pán pani p napr tzv tj resp popr príp
  např tzn s.r.o a.s spol s.r r.o k.s v.o.s sv čs`;

export const cs: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  quotes: QUOTES_GERMAN,
  language: 'cs',
  nonFinal: words(CZECH_SLOVAK_NON_FINAL),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER} č str odst tel kap`),
  starters: words(`já ty on ona ono my vy oni to ten ta tam pak ale a nebo když co kde kdo proč jak
    ne ano děkuji dnes zítra včera v na s`),
  timeSuffixes: COMMON_TIME,
  months: words('ledna února března dubna května června července srpna září října listopadu prosince'),
  ordinalDates: true,
};
