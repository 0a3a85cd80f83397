import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const fr: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'fr',
  nonFinal: words(`${COMMON_NON_FINAL}
    m mm mme mmes mlle mlles pr me mgr ste p.ex c.-à-d`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    chap tél env av bd
    janv févr avr juil sept oct nov déc`),
  starters: words(`le la les il elle ils elles je tu nous vous on ce cette ces cet mais et donc puis
    alors en dans un une des ça qui que quand comment pourquoi oui non merci bonjour voici voilà`),
  timeSuffixes: COMMON_TIME,
  months: words('janvier février mars avril mai juin juillet août septembre octobre novembre décembre'),
  ordinalDates: false,
  pronounI: false,
};
