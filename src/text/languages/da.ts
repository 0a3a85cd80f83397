import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { QUOTES_GERMAN, SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const da: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  quotes: QUOTES_GERMAN,
  language: 'da',
  nonFinal: words(`${COMMON_NON_FINAL}
    hr fr frk skt sankt dr prof bl.a f.eks fx mht mv osv pga ca evt inkl jf vedr ifm dvs
    aps a/s`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    nr s kap stk tlf
    jan feb mar apr jun jul aug sep sept okt nov dec`),
  starters: words(`jeg du han hun den det vi i de der her så men og eller hvis når hvad hvor hvem
    hvorfor hvordan nej ja tak hej også nu i dag en et min din`),
  timeSuffixes: COMMON_TIME,
  months: words('januar februar marts april maj juni juli august september oktober november december'),
  ordinalDates: true,
};
