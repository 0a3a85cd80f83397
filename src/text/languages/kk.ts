import { ru, CYRILLIC_NON_FINAL } from './ru.ts';
import { words, type LanguageRules } from './types.ts';

export const kk: LanguageRules = {
  ...ru,
  language: 'kk',
  nonFinal: words(`${CYRILLIC_NON_FINAL} б.з.б б.з ж жж`),
  starters: words(`мен сен ол біз сіз олар бұл сол онда бірақ және немесе егер қашан не қайда кім
    неге қалай жоқ иә рахмет бүгін ертең кеше`),
};
