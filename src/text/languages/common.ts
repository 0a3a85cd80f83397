import { words } from './types.ts';

/** Abbreviations shared by every language: LLM output mixes English titles and Latin into any text. */
export const COMMON_NON_FINAL = 'mr mrs ms dr prof e.g i.e vs cf viz st mt';
export const COMMON_BEFORE_NUMBER = 'no nr n° nº p pp vol fig art ca approx tel ch sec';
export const COMMON_TIME = words('a.m p.m');
/** Time zones after a time ("3 p.m. EST"): the sentence goes on. */
export const TIME_ZONES = words(`utc gmt est edt cst cdt mst mdt pst pdt akst akdt hst et ct mt pt
  bst ist cet cest eet eest wet west msk jst kst hkt sgt aest aedt acst awst nzst nzdt`);
export const NONE: ReadonlySet<string> = new Set();
