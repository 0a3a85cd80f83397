import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { QUOTES_GERMAN, SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const de: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  quotes: QUOTES_GERMAN,
  language: 'de',
  nonFinal: words(`${COMMON_NON_FINAL}
    hr hrn fr frl dipl ing mag z d u v o s z.b d.h u.a v.a o.ä u.ä i.d.r s.o s.u z.t u.u i.a
    bzw vgl sog ggf evtl inkl bspw ebd allg zzgl abzgl gem lt`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    s bd abs kap abb tab ziff str
    jan feb mär märz apr jun jul aug sep sept okt nov dez`),
  starters: words(`der die das ich er sie es wir ihr dort dann aber und doch denn wenn als so da hier
    heute morgen gestern in im am an auf mit nach bei für ein eine einen dies diese dieser was wie wo
    warum wer nein ja bitte danke auch jetzt man`),
  timeSuffixes: COMMON_TIME,
  months: words(`januar februar märz april mai juni juli august september oktober november dezember
    jan feb mär apr jun jul aug sep sept okt nov dez`),
  ordinalDates: true,
  pronounI: false,
};
