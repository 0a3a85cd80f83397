import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const es: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'es',
  nonFinal: words(`${COMMON_NON_FINAL}
    sr sra srta sres sras dra lic licda ing arq profa d dña ud uds vd vds gral excmo excma ilmo sto sta
    p.ej rev rvdo pbro fr mons ee eeuu afmo atte dcha izq esq pza ej`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    pág págs núm aprox av avda cap
    ene feb mar abr may jun jul ago sep sept oct nov dic
    lun mié miér jue vie sáb dom tel`),
  starters: words(`el la los las yo tú él ella nosotros ellos ellas usted ustedes pero y es este esta
    eso esto en hay no sí se lo un una qué cómo dónde cuándo por para con también ahora hola gracias`),
  timeSuffixes: COMMON_TIME,
  months: words('enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre'),
  ordinalDates: false,
  pronounI: false,
};
