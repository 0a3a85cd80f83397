import { words } from './types.ts';

/** Abbreviations shared by every language: LLM output mixes English titles and Latin into any text. */
export const COMMON_NON_FINAL = 'mr mrs ms dr prof e.g i.e vs cf viz st mt';
export const COMMON_BEFORE_NUMBER = 'no nr n° nº p pp vol fig art ca approx tel ch sec';
export const COMMON_TIME = words('a.m p.m');
