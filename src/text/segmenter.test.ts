import { describe, expect, it } from 'vitest';
import { createSegmenter, DEFAULT_SEGMENTER_OPTIONS, SegmenterOptionsError, type SegmenterOptions } from './segmenter.ts';

function whole(text: string, options: SegmenterOptions = {}): string[] {
  const s = createSegmenter({ eagerFirst: false, ...options });
  return [...s.push(text), ...s.flush()];
}

describe('sentence rules', () => {
  it.each([
    ['titles', 'Dr. Watson met Mrs. Hudson. They talked.', ['Dr. Watson met Mrs. Hudson.', 'They talked.']],
    ['decimals and prices', 'Pi is 3.14 and it costs $4.99. Buy it.', ['Pi is 3.14 and it costs $4.99.', 'Buy it.']],
    ['times', 'Meet me at 3:30 p.m. We can talk then.', ['Meet me at 3:30 p.m.', 'We can talk then.']],
    ['fronted time', 'At 9 a.m. Mr. Jones arrived.', ['At 9 a.m. Mr. Jones arrived.']],
    ['initials', 'The book by J. R. R. Tolkien is long. Read it.', ['The book by J. R. R. Tolkien is long.', 'Read it.']],
    ['acronym then name', 'The U.S. Army left. It rained.', ['The U.S. Army left.', 'It rained.']],
    ['acronym then starter', 'I live in the U.S. We like it.', ['I live in the U.S.', 'We like it.']],
    ['Latin', 'Bring fruit, e.g. Apples or pears. Thanks.', ['Bring fruit, e.g. Apples or pears.', 'Thanks.']],
    ['page numbers', 'See p. 12 and No. 5 for details. Done.', ['See p. 12 and No. 5 for details.', 'Done.']],
    ['months before numbers', 'It shipped on Jan. 5 last year. Good.', ['It shipped on Jan. 5 last year.', 'Good.']],
    ['URL', 'Open https://example.com/docs/v1.2/index.html. Then log in.', ['Open https://example.com/docs/v1.2/index.html.', 'Then log in.']],
    ['e-mail', 'Write to support.Team@example.com. We answer fast.', ['Write to support.Team@example.com.', 'We answer fast.']],
    ['file names', 'Edit config.yaml and README.md first. Then run it.', ['Edit config.yaml and README.md first.', 'Then run it.']],
    ['quote after terminator', 'He said "Stop." Then he left.', ['He said "Stop."', 'Then he left.']],
    ['quote then lower case', 'He said "Stop." and left.', ['He said "Stop." and left.']],
    ['bracket after terminator', 'It works (mostly.) Try it.', ['It works (mostly.)', 'Try it.']],
    ['markdown bold closing', '**Note.** Read this.', ['**Note.**', 'Read this.']],
    ['ellipsis char', 'Well… I think so. Maybe…', ['Well…', 'I think so.', 'Maybe…']],
    ['lower case after !', 'She works at Yahoo! in London.', ['She works at Yahoo! in London.']],
    ['glued sentences', 'It works.Then it stops.', ['It works.', 'Then it stops.']],
  ])('%s', (_name, text, expected) => {
    expect(whole(text)).toEqual(expected);
  });

  it('German ordinals before months are not sentence ends', () => {
    expect(whole('Am 3. Oktober ist Feiertag. Wir ruhen.', { language: 'de' })).toEqual(['Am 3. Oktober ist Feiertag.', 'Wir ruhen.']);
    expect(whole('Das steht auf Seite 12. Lies nach.', { language: 'de' })).toEqual(['Das steht auf Seite 12.', 'Lies nach.']);
    // English has no ordinal dates with a period.
    expect(whole('Chapter 12. June was hot.', { language: 'en' })).toEqual(['Chapter 12.', 'June was hot.']);
  });

  it('language tags use their base language', () => {
    expect(whole('Hola Srta. Pérez. Adiós.', { language: 'es-MX' })).toEqual(['Hola Srta. Pérez.', 'Adiós.']);
  });

  it('CJK terminators need no space; brackets hide them', () => {
    expect(whole('你好。我很好！你呢？')).toEqual(['你好。', '我很好！', '你呢？']);
    expect(whole('彼は「はい。」と言った。次です。', { language: 'ja' })).toEqual(['彼は「はい。」と言った。', '次です。']);
    expect(whole('数字は３．２９です。', { language: 'ja' })).toEqual(['数字は３．２９です。']);
    expect(whole('好的;然后呢？Yes! 中文')).toEqual(['好的;然后呢？', 'Yes!', '中文']);
  });

  it('an unbalanced bracket stops hiding terminators after a while', () => {
    const text = `Note (this never closes. ${'word '.repeat(45)}end. Next one.`;
    expect(whole(text).at(-1)).toBe('Next one.');
  });

  it('lists: numbered, lettered, bulleted, inline and per line', () => {
    expect(whole('1. First item 2. Second item 3. Third item')).toEqual(['1. First item', '2. Second item', '3. Third item']);
    expect(whole('a) Red b) Green')).toEqual(['a) Red', 'b) Green']);
    expect(whole('• One • Two')).toEqual(['• One', '• Two']);
    expect(whole('Steps:\n- Open it\n- Close it\n1. Now\n2. Later')).toEqual(['Steps:', '- Open it', '- Close it', '1. Now', '2. Later']);
    // A number later in prose is not the next list item once the list has ended.
    expect(whole('1. Buy milk. I have 2. Apples are red.')).toEqual(['1. Buy milk.', 'I have 2.', 'Apples are red.']);
  });

  it('newlines: paragraphs and markdown lines are boundaries, hard wraps are spaces', () => {
    expect(whole('First part\n\nSecond part')).toEqual(['First part', 'Second part']);
    expect(whole('This line is\nwrapped here.')).toEqual(['This line is wrapped here.']);
    expect(whole('## Results\nthe numbers went up')).toEqual(['## Results', 'the numbers went up']);
    expect(whole('| a | b |\n| c | d |')).toEqual(['| a | b |', '| c | d |']);
    expect(whole('```\nconst a = b\nfoo()\n```\nafter')).toEqual(['```', 'const a = b', 'foo()', '```', 'after']);
    expect(whole('Title\nNext line')).toEqual(['Title', 'Next line']);
    expect(whole('これは父の\n家です。')).toEqual(['これは父の家です。']);
  });
});

describe('lengths', () => {
  it('cuts run-on text at the last clause boundary, else a word boundary, never inside a word or number', () => {
    const clause = 'alpha beta gamma delta epsilon, zeta eta theta iota kappa lambda mu';
    expect(whole(clause, { maxLength: 50, minLength: 20 })).toEqual(['alpha beta gamma delta epsilon,', 'zeta eta theta iota kappa lambda mu']);
    const words = 'one two three four five six seven eight nine ten eleven 1234567.89 twelve';
    const segments = whole(words, { maxLength: 30, minLength: 10 });
    for (const s of segments) expect(s.length).toBeLessThanOrEqual(30);
    expect(segments.join(' ')).toBe(words);
    expect(segments.some((s) => s.includes('1234567.89'))).toBe(true);
  });

  it('keeps a single token longer than maxLength whole', () => {
    const token = 'x'.repeat(40);
    expect(whole(`${token} tail`, { maxLength: 20, minLength: 5 })).toEqual([token, 'tail']);
  });

  it('cuts CJK run-on text between characters', () => {
    const text = '这是一个很长的句子'.repeat(10);
    const segments = whole(text, { maxLength: 30, minLength: 10 });
    expect(segments.join('')).toBe(text);
    for (const s of segments) expect(s.length).toBeLessThanOrEqual(30);
  });

  it('rejects inconsistent options with a typed error', () => {
    expect(() => createSegmenter({ minLength: 50, maxLength: 40 })).toThrow(SegmenterOptionsError);
    expect(() => createSegmenter({ maxLength: 2 })).toThrow(expect.objectContaining({ code: 'invalid_segmenter_options' }));
    expect(createSegmenter({ language: 'fr' }).options).toEqual({ ...DEFAULT_SEGMENTER_OPTIONS, language: 'fr' });
  });
});

describe('turns, eager first segment, idle, reset', () => {
  it('eager first cuts the first segment of each turn at a clause boundary after minLength', () => {
    const s = createSegmenter({ eagerFirst: true, minLength: 20 });
    const text = 'Sure, I can help with that, and here is how it works. First, you open the app.';
    const first = [...s.push(text), ...s.flush()];
    expect(first).toEqual(['Sure, I can help with that,', 'and here is how it works.', 'First, you open the app.']);
    // The next turn starts eager again.
    expect([...s.push(text), ...s.flush()]).toEqual(first);
  });

  it('eager first does not cut inside brackets or before minLength', () => {
    const s = createSegmenter({ eagerFirst: true, minLength: 20 });
    expect([...s.push('Ok, so (as noted, in short, above) it works fine. Yes.'), ...s.flush()]).toEqual([
      'Ok, so (as noted, in short, above) it works fine.',
      'Yes.',
    ]);
  });

  it('emits a completed sentence as soon as the next word shows it is one', () => {
    const s = createSegmenter({ eagerFirst: false });
    expect(s.push('Hello there.')).toEqual([]);
    expect(s.push(' ')).toEqual([]);
    expect(s.push('H')).toEqual(['Hello there.']);
    expect(s.push('ow are you?')).toEqual([]);
    expect(s.flush()).toEqual(['How are you?']);
  });

  it('waits for the word after an abbreviation before deciding', () => {
    const s = createSegmenter({ eagerFirst: false });
    expect(s.push('I work in the U.S. ')).toEqual([]);
    expect(s.push('Gov')).toEqual([]);
    expect(s.push('ernment office. ')).toEqual([]);
    expect(s.push('It is big.')).toEqual(['I work in the U.S. Government office.']);
  });

  it('idle emits pending sentences and text up to the last complete word', () => {
    const s = createSegmenter({ eagerFirst: false });
    s.push('Let me check that.');
    expect(s.idle()).toEqual(['Let me check that.']);
    s.push('One moment while I look it u');
    expect(s.idle()).toEqual(['One moment while I look it']);
    s.push('p for you, ');
    expect(s.idle()).toEqual(['up for you,']);
    expect(s.idle()).toEqual([]);
    expect(s.flush()).toEqual([]);
  });

  it('idle keeps a half word of a caseless script (Arabic, Hebrew, Thai marks) for the next delta', () => {
    const s = createSegmenter({ eagerFirst: false, language: 'ar' });
    s.push('مرحبا بك في خدم');
    expect(s.idle()).toEqual(['مرحبا بك في']);
    s.push('تنا اليوم ');
    expect(s.idle()).toEqual(['خدمتنا اليوم']);
    const he = createSegmenter({ eagerFirst: false, language: 'he' });
    he.push('שלום לכ');
    expect(he.idle()).toEqual(['שלום']);
    // A Devanagari word ending in a vowel sign (a combining mark) may still go on.
    const hi = createSegmenter({ eagerFirst: false, language: 'hi' });
    hi.push('नमस्ते आपका स्वागत है और धन्यवा');
    expect(hi.idle()).toEqual(['नमस्ते आपका स्वागत है और']);
  });

  it('reset drops buffered text and starts a new turn', () => {
    const s = createSegmenter({ eagerFirst: true, minLength: 10 });
    s.push('This will be cancelled before it');
    s.reset();
    expect([...s.push('A new answer, short and sweet.'), ...s.flush()]).toEqual(['A new answer,', 'short and sweet.']);
  });
});

describe('buffer', () => {
  // The buffer is a Uint16Array: a delta of up to 4 code units is copied by hand, a longer one
  // by a loop, one of 64 or more natively; it grows past 256 code units and shrinks again, and a
  // segment is read back from it (or sliced from the last delta). Every path must give the text
  // as pushed, lone surrogates included.
  const sentence = (i: number) => `Dr. Müller sah ${i} Fälle \uD83D\uDE00 und \uD800 einen, e.g. „Nr. ${i}“ ging. 第${i}章很好。`;
  const text = Array.from({ length: 40 }, (_, i) => sentence(i)).join(' ') + ' ' + 'x'.repeat(900) + '. ' + sentence(41);
  const whole = (() => {
    const s = createSegmenter({ eagerFirst: false, language: 'auto' });
    return [...s.push(text), ...s.flush()];
  })();

  it('gives the whole-text segments for every mix of short, medium and long deltas', () => {
    expect(whole.join(' ').replace(/\s+/g, '')).toBe(text.replace(/\s+/g, ''));
    for (const sizes of [[1, 2, 3, 4], [5, 63], [64, 1, 200], [1000, 3], [1, 700, 2, 64, 4]]) {
      const s = createSegmenter({ eagerFirst: false, language: 'auto' });
      const out: string[] = [];
      for (let i = 0, n = 0; i < text.length; n++) {
        const size = sizes[n % sizes.length];
        out.push(...s.push(text.slice(i, i + size)));
        i += size;
      }
      out.push(...s.flush());
      expect(out, `sizes ${sizes}`).toEqual(whole);
    }
  });

  it('a push that completes nothing returns a read-only empty array', () => {
    const s = createSegmenter();
    const none = s.push('Hello');
    expect(none).toEqual([]);
    expect(Object.isFrozen(none)).toBe(true);
    expect(s.push(' world. And')).toEqual(['Hello world.']);
  });
});
