import { de } from './de.ts';
import { en } from './en.ts';
import { es } from './es.ts';
import { fr } from './fr.ts';
import type { LanguageRules } from './types.ts';

export type { LanguageRules } from './types.ts';

const RULES: Record<string, LanguageRules> = { en, de, es, fr };

/**
 * Rules for a BCP 47 tag ('en-US' → en). Chinese, Japanese and any language without its own
 * list use the English rules: their own terminators are script-level, and LLM output in them
 * quotes English names and abbreviations.
 */
export function rulesFor(language: string | undefined): LanguageRules {
  if (!language) return en;
  const base = language.toLowerCase().split(/[-_]/)[0];
  return RULES[base] ?? en;
}
