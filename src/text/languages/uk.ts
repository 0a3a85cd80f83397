import { ru, CYRILLIC_NON_FINAL } from './ru.ts';
import { words, type LanguageRules } from './types.ts';

export const uk: LanguageRules = {
  ...ru,
  language: 'uk',
  nonFinal: words(`${CYRILLIC_NON_FINAL} р рр вул м пан пані тис грн`),
  starters: words(`я ти він вона воно ми ви вони це цей ця там тоді але і й а або якщо коли що де
    хто чому як ні так дякую сьогодні завтра вчора в у на з`),
};
