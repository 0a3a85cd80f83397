import { cs } from './cs.ts';
import { words, type LanguageRules } from './types.ts';

export const sk: LanguageRules = {
  ...cs,
  language: 'sk',
  starters: words(`ja ty on ona ono my vy oni to ten ta tam potom ale a alebo keď čo kde kto prečo
    ako nie áno ďakujem dnes zajtra včera v na s`),
  months: words(`januára februára marca apríla mája júna júla augusta septembra októbra novembra
    decembra január február marec apríl máj jún júl august september október november december`),
};
