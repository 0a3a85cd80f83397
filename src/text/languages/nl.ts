import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { QUOTES_DEFAULT, SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const nl: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  quotes: QUOTES_DEFAULT,
  language: 'nl',
  nonFinal: words(`${COMMON_NON_FINAL}
    dhr mevr mw mej ir ing drs mr prof dr ds br zr bijv bv d.w.z m.a.w o.a i.p.v t.a.v t.o.v i.v.m
    z.g.a.n a.u.b s.v.p aanw afd e.a ca resp evt incl excl vgl zgn`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    blz nr art hfst tel
    jan feb mrt apr jun jul aug sep sept okt nov dec`),
  starters: words(`de het een ik jij je hij zij ze wij we jullie u dit dat deze die er daar toen maar
    en dus of als wanneer wat waar wie waarom hoe nee ja dank hallo ook nu vandaag morgen gisteren
    in op met na bij voor`),
  timeSuffixes: COMMON_TIME,
  months: words('januari februari maart april mei juni juli augustus september oktober november december'),
};
