import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeForSpeech } from './normalize.ts';

describe('normalizeForSpeech', () => {
  it.each([
    ['bold and italic', 'This is **very** _important_ and *new*.', 'This is very important and new.'],
    ['bold across a segment cut', '**Note: read this.', 'Note: read this.'],
    ['strikethrough', 'It is ~~cheap~~ affordable.', 'It is cheap affordable.'],
    ['headings', '### Getting started ###', 'Getting started'],
    ['bullets and task boxes', '- [x] Done item', 'Done item'],
    ['star bullet', '* Item one', 'Item one'],
    ['numbered items keep their number', '2. Second item', '2. Second item'],
    ['block quote', '> Quoted words', 'Quoted words'],
    ['inline code keeps its content verbatim', 'Run `npm_install --save*` now.', 'Run npm_install --save* now.'],
    ['code fence with info string', '```typescript', ''],
    ['closing fence', 'return x; ```', 'return x;'],
    ['links and images become their text', 'See [the docs](https://x.io/a_(b)) or ![a chart](c.png).', 'See the docs or a chart.'],
    ['reference links and autolinks', 'Read [this][1] at <https://x.io/y>.', 'Read this at https://x.io/y.'],
    ['table rows', '| Name | Price |', 'Name, Price'],
    ['table separator', '| --- | :---: |', ''],
    ['horizontal rule', '***', ''],
    ['emoji with modifiers, joiners and flags', 'Great job 👍🏽! The 👨‍👩‍👧 family 🇫🇷 trip.', 'Great job! The family trip.'],
    ['keeps © and ™', '© 2024 Acme™', '© 2024 Acme™'],
    ['decorative symbols', 'Step ▶ next • done', 'Step next done'],
    ['escapes', 'Use 5 \\* 3 and \\_x\\_', 'Use 5 * 3 and _x_'],
    ['html tags', 'a<br/>b <strong>c</strong>', 'a b c'],
    ['whitespace', '  lots   of\tspace  ', 'lots of space'],
    ['nothing to speak', '🎉 ✨ …', ''],
    ['multiplication, snake_case and approximations stay', '2 * 3 = 6, 2*3, snake_case_name, ~5 min', '2 * 3 = 6, 2*3, snake_case_name, ~5 min'],
  ])('%s', (_name, input, expected) => {
    expect(normalizeForSpeech(input)).toBe(expected);
  });

  it('keeps lines apart and drops empty ones in whole texts', () => {
    expect(normalizeForSpeech('# Title\n\n- one\n- two\n```js\ncode()\n```')).toBe('Title\none\ntwo\ncode()');
  });

  it('changes nothing in plain prose but whitespace', () => {
    const word = fc.stringMatching(/^[A-Za-zÀ-ÖØ-öø-ÿ0-9][A-Za-zÀ-ÖØ-öø-ÿ0-9'’.,;:!?%$-]{0,12}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 30 }), (words) => {
        const prose = words.join(' ');
        expect(normalizeForSpeech(`  ${prose.replace(/ /g, '  ')} `)).toBe(prose);
      }),
      { numRuns: 300 },
    );
  });
});
