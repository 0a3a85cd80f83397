import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const pt: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'pt',
  nonFinal: words(`${COMMON_NON_FINAL}
    sr sra srta sras srs dra profa eng engª arq exmo exma ilmo ilma v.exa v.sa d dª pe fr gen cel
    cap ten sgt p.ex`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    pág págs núm n nº cap av r tel
    jan fev mar abr mai jun jul ago set out nov dez`),
  starters: words(`o a os as eu tu ele ela nós vós eles elas você vocês isso isto este esta mas e
    então depois se quando como onde porque quem que não sim também agora hoje amanhã ontem obrigado
    obrigada olá em no na um uma há é`),
  timeSuffixes: COMMON_TIME,
  months: words('janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro'),
};
