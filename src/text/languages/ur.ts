import { ar } from './ar.ts';
import type { LanguageRules } from './types.ts';

/** Urdu: the Arabic script's terminators (؟ and the full stop ۔); ':' does not end a sentence. */
export const ur: LanguageRules = { ...ar, language: 'ur', colonEnds: false };
