import { ar } from './ar.ts';
import type { LanguageRules } from './types.ts';

/** Persian: the Arabic script's terminators (؟ ۔); ':' does not end a sentence. */
export const fa: LanguageRules = { ...ar, language: 'fa', colonEnds: false };
