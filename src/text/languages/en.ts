import { COMMON_BEFORE_NUMBER, COMMON_NON_FINAL, COMMON_TIME } from './common.ts';
import { SCRIPT_DEFAULTS, words, type LanguageRules } from './types.ts';

export const en: LanguageRules = {
  ...SCRIPT_DEFAULTS,
  language: 'en',
  nonFinal: words(`${COMMON_NON_FINAL}
    mx messrs rev hon gen gov sen rep reps capt cpt col lt maj sgt cmdr adm pres supt fr insp det`),
  beforeNumber: words(`${COMMON_BEFORE_NUMBER}
    nos figs eq eqs chap sect para paras ref refs c est ext pg pgs ver v vs apt rm ste bldg op ed eds
    jan feb mar apr jun jul aug sep sept oct nov dec
    mon tue tues wed thu thur thurs fri sat sun
    co corp inc ltd llc plc jr sr bros etc al dept univ assn ave blvd rd hwy
    ft oz lb lbs min mins hr hrs sec secs mo mos yr yrs wk wks pt pts qt gal mi yd yds sq cu`),
  starters: words(`i a an the he she it we they you this that these those there then but and so or
    if when what where who why how which in on at as after before my his her our their your its
    is are was were do does did can could will would should shall may might must please let yes no
    not however also now here thanks thank some all many most one for to from by with although
    because since while still yet today tomorrow yesterday meanwhile first next finally another
    each every both such once unless until over under during instead otherwise however hi hello
    sure great okay ok well oh`),
  timeSuffixes: COMMON_TIME,
  months: words('january february march april may june july august september october november december'),
  ordinalDates: false,
  pronounI: true,
};
