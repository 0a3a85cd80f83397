import { hi } from './hi.ts';
import type { LanguageRules } from './types.ts';

/** Marathi: Devanagari, as Hindi. */
export const mr: LanguageRules = { ...hi, language: 'mr' };
