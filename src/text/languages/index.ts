import {
  S_ARABIC,
  S_ARMENIAN,
  S_CYRILLIC,
  S_DEVANAGARI,
  S_ETHIOPIC,
  S_GREEK,
  S_HAN,
  S_HANGUL,
  S_HEBREW,
  S_KANA,
  S_MYANMAR,
  S_THAI,
} from '../chars.ts';
import { ar } from './ar.ts';
import { bg } from './bg.ts';
import { cs } from './cs.ts';
import { da } from './da.ts';
import { de } from './de.ts';
import { el } from './el.ts';
import { en } from './en.ts';
import { es } from './es.ts';
import { fa } from './fa.ts';
import { fr } from './fr.ts';
import { hi } from './hi.ts';
import { hy } from './hy.ts';
import { it } from './it.ts';
import { ja } from './ja.ts';
import { kk } from './kk.ts';
import { ko } from './ko.ts';
import { mr } from './mr.ts';
import { nl } from './nl.ts';
import { am, bo, he, km, my, th } from './other.ts';
import { pl } from './pl.ts';
import { pt } from './pt.ts';
import { ru } from './ru.ts';
import { sk } from './sk.ts';
import type { LanguageRules } from './types.ts';
import { uk } from './uk.ts';
import { ur } from './ur.ts';
import { zh } from './zh.ts';

export type { LanguageRules } from './types.ts';

const RULES: Record<string, LanguageRules> = {
  en, de, es, fr, it, pt, nl, da, cs, sk, pl, ru, uk, bg, kk, el, hy, hi, mr, ar, fa, ur,
  zh, ja, ko, am, my, km, bo, he, th,
  // Close relatives that read the same at a period.
  ca: es, gl: es, nb: da, no: da, nn: da, sv: da, be: ru, sr: ru, mk: bg, ne: hi, ps: fa, yue: zh,
};

/** Languages with rules of their own (docs/segmentation.md lists what each covers). */
export const SUPPORTED_LANGUAGES: readonly string[] = Object.freeze(Object.keys(RULES));

/** The `language` value that picks rules from the script of the text (see `rulesForScript`). */
export const AUTO = 'auto';

/**
 * Rules for a BCP 47 tag ('en-US' → en); any language without rules of its own uses English
 * (script-level terminators work in every language). `auto` is resolved per segment by the
 * segmenter with `rulesForScript`; here it answers the rules of Latin text.
 */
export function rulesFor(language: string | undefined): LanguageRules {
  if (!language) return en;
  const base = language.toLowerCase().split(/[-_]/)[0];
  return RULES[base] ?? en;
}

/** `language: 'auto'`: the rules of the script of a segment's first letter (chars.ts scriptOf). */
export function rulesForScript(script: number): LanguageRules {
  switch (script) {
    case S_CYRILLIC:
      return ru;
    case S_GREEK:
      return el;
    case S_ARMENIAN:
      return hy;
    case S_HEBREW:
      return he;
    case S_ARABIC:
      return ar;
    case S_DEVANAGARI:
      return hi;
    case S_THAI:
      return th;
    case S_ETHIOPIC:
      return am;
    case S_MYANMAR:
      return my;
    case S_HAN:
      return zh;
    case S_KANA:
      return ja;
    case S_HANGUL:
      return ko;
    default:
      return en;
  }
}
