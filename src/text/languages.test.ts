// Sentence rules beyond English: pySBD's language suites (../shared/data/pysbd_lang_cases.json),
// the streaming invariant on every case, time to the first segment in every language with rules,
// and the rules the issue named (scripts, quote direction, abbreviations, `auto`).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_LANGUAGES } from './languages/index.ts';
import { createSegmenter, type SegmenterOptions } from './segmenter.ts';

interface LangCase {
  id: string;
  lang: string;
  input: string;
  expected: string[];
}

const readCases = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../shared/data/${name}`, import.meta.url), 'utf8')) as LangCase[];
const cases = readCases('pysbd_lang_cases.json');
const golden = readCases('golden_rules.json');

/**
 * Known failures and why (docs/segmentation.md). `whitespace`: the boundaries are right but the
 * expected text keeps a double space, and segments collapse whitespace runs to one space (TTS
 * input); the test checks that they match once whitespace is collapsed.
 */
const KNOWN_FAILURES: Record<string, { whitespace?: true; reason: string }> = {
  'a-hy-011': { whitespace: true, reason: 'expected keeps "որը  կազմում" (two spaces)' },
  'a-hy-012': { whitespace: true, reason: 'expected keeps "է  Համակարգի" (two spaces)' },
  'a-ru-209': { whitespace: true, reason: 'expected keeps "»,  —" (two spaces)' },
  'a-da-384': { whitespace: true, reason: 'expected keeps "Bohr  [...]" (two spaces)' },
  'a-el-118': {
    reason:
      'a sentence starting in lower case ("κανένας. το κόστος"): a lower-case word after a period is read as ' +
      'the same sentence in every language, which is what keeps "κ. το", "e.g. the", "z. B. die" whole',
  },
  'a-it-139': {
    reason:
      'a sentence inside straight double quotes ("Ei fu. Siccome …"): " has no direction, so it does not ' +
      'hide terminators the way « » “ ” „ and brackets do; opening and closing cannot be told apart in a stream',
  },
  'a-kk-179': {
    reason:
      '"кім? не?": a lower-case word after ? is read as the same sentence ("Yahoo! in London", ' +
      '"готовишься? – спросила мама"); the two readings need the meaning',
  },
};

const REQUIRED_SHARE = 0.9;

function segmentWhole(input: string, options: SegmenterOptions): string[] {
  const s = createSegmenter(options);
  return [...s.push(input), ...s.flush()];
}

/** Deterministic 1–4 character pieces (xorshift, one seed per run). */
function segmentPieces(input: string, options: SegmenterOptions, seed: number): string[] {
  const s = createSegmenter(options);
  const out: string[] = [];
  let x = seed;
  for (let i = 0; i < input.length; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const size = 1 + ((x >>> 0) % 4);
    out.push(...s.push(input.slice(i, i + size)));
    i += size;
  }
  out.push(...s.flush());
  return out;
}

const collapse = (list: string[]) => list.map((s) => s.replace(/\s+/g, ' '));

describe("pySBD language suites", () => {
  const results = cases.map((c) => {
    const got = segmentWhole(c.input, { language: c.lang, eagerFirst: false });
    const expected = c.expected.map((s) => s.trim());
    return { c, got, expected, pass: JSON.stringify(got) === JSON.stringify(expected) };
  });

  it(`passes at least ${REQUIRED_SHARE * 100} % of the cases`, () => {
    const score: Record<string, string> = {};
    for (const lang of new Set(cases.map((c) => c.lang))) {
      const own = results.filter((r) => r.c.lang === lang);
      score[lang] = `${own.filter((r) => r.pass).length}/${own.length}`;
    }
    const passed = results.filter((r) => r.pass).length;
    console.log(`pySBD language cases: ${passed}/${results.length} — ${Object.entries(score).map(([l, s]) => `${l} ${s}`).join(', ')}`);
    expect(passed / results.length).toBeGreaterThanOrEqual(REQUIRED_SHARE);
  });

  for (const r of results) {
    it(`${r.c.id} (${r.c.lang})`, () => {
      const known = KNOWN_FAILURES[r.c.id];
      if (!known) {
        expect(r.got).toEqual(r.expected);
        return;
      }
      // A known failure that starts passing must leave the list.
      expect(r.got, known.reason).not.toEqual(r.expected);
      if (known.whitespace) expect(collapse(r.got)).toEqual(collapse(r.expected));
    });
  }
});

describe('streaming: every case gives the same sentences whole and in 1–4 character pieces', () => {
  const all = [...cases, ...golden];
  it.each([1, 2, 3])(`all ${all.length} pySBD and golden cases, piece seed %i`, (seed) => {
    for (const c of all) {
      for (const language of [c.lang, 'auto']) {
        const options = { language, eagerFirst: false };
        const whole = segmentWhole(c.input, options);
        expect(segmentPieces(c.input, options, seed * 7919 + c.input.length), `${c.id} ${language}`).toEqual(whole);
      }
    }
  });

  it('one character at a time too', () => {
    for (const c of all) {
      const s = createSegmenter({ language: c.lang, eagerFirst: false });
      const out: string[] = [];
      for (const ch of c.input) out.push(...s.push(ch));
      out.push(...s.flush());
      expect(out, c.id).toEqual(segmentWhole(c.input, { language: c.lang, eagerFirst: false }));
    }
  });
});

/**
 * A streamed answer per language: its first sentence, then the rest. Each first sentence ends
 * the way LLM answers usually do in that language (no abbreviation at the end).
 */
const ANSWERS: Record<string, [first: string, rest: string]> = {
  en: ['Sure, I can help with that.', ' Your order shipped on Monday.'],
  de: ['Gern helfe ich Ihnen dabei.', ' Ihre Bestellung ist unterwegs.'],
  es: ['¡Claro, con mucho gusto!', ' Su pedido salió el lunes.'],
  fr: ['Bien sûr, je vais vous aider.', ' Votre commande est partie lundi.'],
  it: ['Certo, posso aiutarla con questo.', " L'ordine è partito lunedì."],
  pt: ['Claro, posso ajudar com isso.', ' O seu pedido foi enviado.'],
  nl: ['Natuurlijk help ik u daarmee.', ' Uw bestelling is verzonden.'],
  da: ['Selvfølgelig kan jeg hjælpe.', ' Din ordre er sendt.'],
  cs: ['Samozřejmě vám s tím pomohu.', ' Objednávka byla odeslána.'],
  sk: ['Samozrejme vám s tým pomôžem.', ' Objednávka bola odoslaná.'],
  pl: ['Oczywiście, chętnie pomogę.', ' Zamówienie zostało wysłane.'],
  ru: ['Конечно, я помогу вам.', ' Ваш заказ уже отправлен.'],
  uk: ['Звичайно, я вам допоможу.', ' Ваше замовлення вже надіслано.'],
  bg: ['Разбира се, ще ви помогна.', ' Поръчката ви е изпратена.'],
  kk: ['Әрине, мен сізге көмектесемін.', ' Тапсырысыңыз жіберілді.'],
  el: ['Φυσικά, θα σας βοηθήσω.', ' Η παραγγελία σας στάλθηκε.'],
  hy: ['Իհարկե, ես կօգնեմ ձեզ:', ' Ձեր պատվերը ուղարկված է:'],
  hi: ['ज़रूर, मैं आपकी मदद करूँगा।', ' आपका ऑर्डर भेज दिया गया है।'],
  mr: ['नक्कीच, मी तुम्हाला मदत करेन.', ' तुमची ऑर्डर पाठवली आहे.'],
  ar: ['بالتأكيد، سأساعدك في ذلك.', ' تم شحن طلبك يوم الاثنين.'],
  fa: ['حتماً، به شما کمک می‌کنم.', ' سفارش شما ارسال شد.'],
  ur: ['ضرور، میں آپ کی مدد کروں گا۔', ' آپ کا آرڈر بھیج دیا گیا ہے۔'],
  he: ['בטח, אשמח לעזור לך.', ' ההזמנה שלך נשלחה.'],
  zh: ['当然可以，我来帮您查一下。', '您的订单已经发货了。'],
  ja: ['はい、お手伝いします。', 'ご注文は月曜日に発送されました。'],
  ko: ['네, 도와드리겠습니다.', ' 주문하신 상품은 월요일에 발송되었습니다.'],
  am: ['እሺ፣ እረዳዎታለሁ።', 'ትዕዛዝዎ ተልኳል።'],
  my: ['ဟုတ်ကဲ့၊ ကူညီပေးပါမယ်။', 'သင့်အော်ဒါ ပို့ပြီးပါပြီ။'],
  km: ['បាទ ខ្ញុំនឹងជួយអ្នក។', 'ការបញ្ជាទិញរបស់អ្នកត្រូវបានផ្ញើ។'],
  bo: ['ལགས་སོ། ', 'ང་ཡིས་རོགས་རམ་བྱེད།'],
};

/** Languages whose sentences this segmenter cannot find (docs/segmentation.md). */
const NO_SENTENCE_MARK: Record<string, string> = { th: 'Thai marks a sentence end with a space only' };

describe('time to the first segment', () => {
  const languages = [...new Set(SUPPORTED_LANGUAGES.map((l) => l))].filter((l) => !(l in NO_SENTENCE_MARK));
  it('every language with rules has a streamed answer here', () => {
    const aliases = new Set(['ca', 'gl', 'nb', 'no', 'nn', 'sv', 'be', 'sr', 'mk', 'ne', 'ps', 'yue']);
    expect(languages.filter((l) => !aliases.has(l) && !(l in ANSWERS))).toEqual([]);
  });

  it.each(Object.entries(ANSWERS))('%s: the first sentence comes out within 2 characters of its end', (language, [first, rest]) => {
    for (const lang of [language, 'auto']) {
      const s = createSegmenter({ language: lang, eagerFirst: false });
      const answer = first + rest;
      let released = -1;
      let segment = '';
      for (let i = 0; i < answer.length && released < 0; i++) {
        const out = s.push(answer[i]);
        if (out.length > 0) {
          released = i + 1;
          segment = out[0];
        }
      }
      expect(segment, lang).toBe(first.trim());
      expect(released - first.length, `${lang}: characters after the sentence end`).toBeLessThanOrEqual(2);
    }
  });
});

describe('rules the issue named', () => {
  const seg = (language: string, text: string) => segmentWhole(text, { language, eagerFirst: false });

  it.each([
    ['it', 'Contatta il rif. 12345 per favore. Grazie.', ['Contatta il rif. 12345 per favore.', 'Grazie.']],
    ['it', "Sono l'Ing. Mengozzi. Arrivo.", ["Sono l'Ing. Mengozzi.", 'Arrivo.']],
    ['es', 'Vivo en EE. UU. desde 2010. Me gusta.', ['Vivo en EE. UU. desde 2010.', 'Me gusta.']],
    ['es', 'Abrimos el Lun. 5 de mayo. Rev. García vendrá.', ['Abrimos el Lun. 5 de mayo.', 'Rev. García vendrá.']],
    ['en', 'The call is at 3 p.m. EST on Monday. Be there.', ['The call is at 3 p.m. EST on Monday.', 'Be there.']],
    ['ru', 'Дом на ул. Ленина продан. В 1854 г. Толстой уехал.', ['Дом на ул. Ленина продан.', 'В 1854 г. Толстой уехал.']],
    ['da', 'De holdt Skt. Hans i byen. Jeg bor i E.U. Hvad med dig?', ['De holdt Skt. Hans i byen.', 'Jeg bor i E.U.', 'Hvad med dig?']],
    ['sk', 'Ide o príslušníkov XII. Pluku. Spoločnosť vznikla 7. Apríla.', ['Ide o príslušníkov XII. Pluku.', 'Spoločnosť vznikla 7. Apríla.']],
  ])('%s abbreviations: %s', (language, text, expected) => {
    expect(seg(language, text)).toEqual(expected);
  });

  it.each([
    ['hi', 'यह अच्छा है। हम चलते हैं॥ ठीक है।', ['यह अच्छा है।', 'हम चलते हैं॥', 'ठीक है।']],
    ['mr', 'हे छान आहे। आपण जाऊ.', ['हे छान आहे।', 'आपण जाऊ.']],
    ['ar', 'كيف حالك؟ أنا بخير.', ['كيف حالك؟', 'أنا بخير.']],
    ['ar', 'سؤال وجواب: ماذا حدث في 05:01 اليوم؟', ['سؤال وجواب:', 'ماذا حدث في 05:01 اليوم؟']],
    ['fa', 'شما کجایی هستید؟ من از تهران هستم.', ['شما کجایی هستید؟', 'من از تهران هستم.']],
    ['ur', 'کیا حال ہے؟ میرا نام علی ہے۔ شکریہ', ['کیا حال ہے؟', 'میرا نام علی ہے۔', 'شکریہ']],
    ['hy', 'Բարև Ձեզ: Ես գնում եմ։ Լավ է.', ['Բարև Ձեզ:', 'Ես գնում եմ։', 'Լավ է.']],
    ['el', 'Πού είναι οι τουαλέτες; Εδώ. Ευχαριστώ· παρακαλώ.', ['Πού είναι οι τουαλέτες;', 'Εδώ.', 'Ευχαριστώ· παρακαλώ.']],
    ['am', 'እንደምን አለህ፧መልካም ቀን።እሺ', ['እንደምን አለህ፧', 'መልካም ቀን።', 'እሺ']],
    ['my', 'နေကောင်းလား။ကောင်းပါတယ်။', ['နေကောင်းလား။', 'ကောင်းပါတယ်။']],
  ])('%s script terminators: %s', (language, text, expected) => {
    expect(seg(language, text)).toEqual(expected);
    expect(seg('auto', text)).toEqual(expected);
  });

  it('script-level colon and semicolon ends belong to their language only', () => {
    expect(seg('en', 'Note: this goes on; it does.')).toEqual(['Note: this goes on; it does.']);
    expect(seg('hy', 'Ի՞նչ ես մտածում: Ոչինչ:')).toEqual(['Ի՞նչ ես մտածում:', 'Ոչինչ:']);
    expect(seg('el', 'Τι; Ναι.')).toEqual(['Τι;', 'Ναι.']);
  });

  it('Chinese and Japanese: Latin abbreviations inside, titles, quotations and the opening “', () => {
    expect(seg('zh', '项目支持U.S.标准。我们很高兴。')).toEqual(['项目支持U.S.标准。', '我们很高兴。']);
    expect(seg('zh', '他喜欢Apple.我也是。')).toEqual(['他喜欢Apple.', '我也是。']);
    expect(seg('zh', '他说完了。“我们走吧。”她回答。')).toEqual(['他说完了。', '“我们走吧。”她回答。']);
    expect(seg('zh', '我读了《计划A（试行版）！》这本书。很好。')).toEqual(['我读了《计划A（试行版）！》这本书。', '很好。']);
    expect(seg('zh', '「我们走吧。」他说。好的。')).toEqual(['「我们走吧。」他说。', '好的。']);
    expect(seg('ja', '彼は「はい。」と言った。次です。')).toEqual(['彼は「はい。」と言った。', '次です。']);
  });

  it('quote direction by language', () => {
    expect(seg('de', '„Ich bin da.“ Er ging. »Gut.« Sie kam.')).toEqual(['„Ich bin da.“', 'Er ging.', '»Gut.«', 'Sie kam.']);
    expect(seg('de', '„Ich bin da. Du auch.“ Er ging.')).toEqual(['„Ich bin da. Du auch.“', 'Er ging.']);
    expect(seg('ru', '«Ты готов? – спросила мама. – Завтра выходной». Он кивнул.')).toEqual([
      '«Ты готов? – спросила мама. – Завтра выходной».',
      'Он кивнул.',
    ]);
    expect(seg('fr', '« Bonjour. » Il part. Elle dit « non ». Fin.')).toEqual(['« Bonjour. »', 'Il part.', 'Elle dit « non ».', 'Fin.']);
    expect(seg('en', 'He said, “I am here. Let us go.” Then he left.')).toEqual(['He said, “I am here. Let us go.”', 'Then he left.']);
    // English rules read German „…“ by context, so `auto` handles it too.
    expect(seg('auto', '„Ich bin da.“ Er ging.')).toEqual(['„Ich bin da.“', 'Er ging.']);
  });

  it('dialogue dashes and an ellipsis opening the next sentence', () => {
    expect(seg('kk', 'Бірақ оның енді не керегі бар? — деді. Жарайды.')).toEqual(['Бірақ оның енді не керегі бар? — деді.', 'Жарайды.']);
    expect(seg('nl', 'Het was raak. ...en toen ging het mis.')).toEqual(['Het was raak.', '...en toen ging het mis.']);
  });

  it('auto picks each segment’s rules from its script', () => {
    expect(seg('auto', 'Дом на ул. Ленина. Hello Dr. Smith. 你好。“走吧。”他说。')).toEqual([
      'Дом на ул. Ленина.',
      'Hello Dr. Smith.',
      '你好。',
      '“走吧。”他说。',
    ]);
    // Latin script reads as English in auto: Italian titles need language 'it'.
    expect(seg('auto', "Sono l'Avv. Rossi.")).toEqual(["Sono l'Avv.", 'Rossi.']);
    expect(seg('it', "Sono l'Avv. Rossi.")).toEqual(["Sono l'Avv. Rossi."]);
  });
});
