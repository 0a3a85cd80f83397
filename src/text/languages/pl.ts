import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { QUOTES_EAST, SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const pl: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  quotes: QUOTES_EAST,
  language: 'pl',
  nonFinal: words(`${COMMON_NON_FINAL}
    p pan pani mgr inż dr hab prof doc płk gen ks św np tzn tj m.in wg ok ul al pl os
    bałt gdań pol ang niem łac sp z o.o`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER} str s nr tel rozdz
    stycz luty mar kwiec maj czerw lip sierp wrzes paźdz listop grudz`),
  starters: words(`ja ty on ona ono my wy oni to ten ta tam wtedy ale i a lub jeśli kiedy co gdzie
    kto dlaczego jak nie tak dziękuję dzisiaj jutro wczoraj w na z`),
  timeSuffixes: COMMON_TIME,
  months: words('stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia'),
  ordinalDates: true,
};
