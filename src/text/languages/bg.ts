import { ru, CYRILLIC_NON_FINAL } from './ru.ts';
import { words, type LanguageRules } from './types.ts';

export const bg: LanguageRules = {
  ...ru,
  language: 'bg',
  nonFinal: words(`${CYRILLIC_NON_FINAL} т.г ул бул пл гр с вкл напр др проф доц акад`),
  starters: words(`аз ти той тя то ние вие те това този тази там тогава но и а или ако когато какво
    къде кой защо как не да благодаря днес утре вчера в на с`),
};
