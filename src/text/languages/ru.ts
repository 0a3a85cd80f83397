import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { QUOTES_EAST, SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

/**
 * Abbreviations shared by the Cyrillic languages: г. (год/город) and гг. never end a sentence
 * in pySBD's reading ("1898 г. В 1854 году", "посещал г. Волгоград").
 */
export const CYRILLIC_NON_FINAL = `${COMMON_NON_FINAL}
  г гг т.е т.к т.н пр проф акад доц канд д-р им ул пл пер просп пгт пос д кв корп
  стр обл р-н респ ст им тов гр г-н г-жа вкл напр см ср рис табл млн млрд тыс руб коп долл`;

export const ru: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  quotes: QUOTES_EAST,
  language: 'ru',
  nonFinal: words(CYRILLIC_NON_FINAL),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    № с стр гл ч т п рис табл
    янв фев февр мар апр авг сен сент окт ноя нояб дек`),
  starters: words(`я ты он она оно мы вы они это этот эта там тогда но и а или если когда что где
    кто почему как нет да спасибо здравствуйте тоже сейчас сегодня завтра вчера в на с по`),
  timeSuffixes: COMMON_TIME,
  months: words('января февраля марта апреля мая июня июля августа сентября октября ноября декабря'),
};
