import { zh } from './zh.ts';
import type { LanguageRules } from './types.ts';

/** Japanese: as Chinese; 「…。」と言った (a quotative particle) goes on. */
export const ja: LanguageRules = { ...zh, language: 'ja' };
