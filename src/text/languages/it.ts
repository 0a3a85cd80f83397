import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const it: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'it',
  // Elided articles are stripped before lookup: "l'Ing." looks up "ing".
  nonFinal: words(`${COMMON_NON_FINAL}
    sig sigg sig.ra sig.na sigra signa dott dott.ssa dottssa prof.ssa ing avv arch geom rag on sen
    dir amm gen col cap mons sac rev egr gent ill.mo ill.ma spett preg psicol econ meteor idraul
    v.cte cte p.es ca cfr vd ved`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    n nn pag pagg cap rif tel fax int c.so v.le p.za cod prot tab all
    gen febb mar apr magg giu lug ago sett ott nov dic`),
  starters: words(`il lo la i gli le un una uno io tu lui lei noi voi loro questo questa quello quella
    ma e però poi quindi allora se quando come dove perché chi che cosa non sì no anche ora oggi
    domani ieri grazie buongiorno ciao in a per con su da di è ci`),
  timeSuffixes: COMMON_TIME,
  months: words('gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre'),
};
