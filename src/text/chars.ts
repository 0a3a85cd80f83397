// Character classes for the segmenter's hot loop: one table lookup for every code unit below
// U+3100, a range check for Han and hangul, a switch for the rest (kindOf). Everything here
// works on UTF-16 code units.

/** Nothing special: letters, digits, most symbols. */
export const K_PLAIN = 0;
export const K_SPACE = 1;
export const K_NEWLINE = 2;
/** Latin-style sentence terminators: . ! ? … ‽ ‼ ⁇ ⁈ ⁉, and the Greek question mark ; (U+037E). */
export const K_TERM = 3;
/** Clause punctuation that needs a space after it to count: , ; : and Arabic ، ؛, Armenian ՝, Greek · */
export const K_CLAUSE = 4;
export const K_OPEN = 5;
export const K_CLOSE = 6;
/** ASCII hyphen: a clause boundary only as " - ". */
export const K_HYPHEN = 7;
/** Em dash and en dash. */
export const K_DASH = 8;
/**
 * Terminators that need no space after them and are never abbreviations: full-width 。！？；｡．,
 * and the sentence ends of other scripts: Devanagari । ॥, Arabic ؟ ۔, Armenian ։, Ethiopic ። ፧ ፨,
 * Myanmar ။, Khmer ។ ៕, Tibetan །, Sinhala ෴, Mongolian ᠃ (the "CJK" name is historical).
 */
export const K_CJK_TERM = 9;
/** Clause marks that need no space after them: full-width ，、：, Ethiopic ፣ ፤ ፥, Myanmar ၊ */
export const K_CJK_CLAUSE = 10;
/** Han, kana, hangul, full-width letters and digits: a word boundary sits between two of them. */
export const K_CJK = 11;
/** List bullets: • ◦ ▪ ‣ ⁃ ● */
export const K_BULLET = 12;
/**
 * Double quotes whose direction depends on the language: « » “ ” „. A language's rules say
 * which of them open and which close (German „…“ and »…«, Russian «…», Chinese “…”).
 */
export const K_QUOTE = 13;

const ASCII = new Uint8Array(128);
ASCII[9] = K_SPACE;
ASCII[10] = K_NEWLINE;
ASCII[11] = K_SPACE;
ASCII[12] = K_SPACE;
ASCII[13] = K_SPACE;
ASCII[32] = K_SPACE;
for (const ch of '.!?') ASCII[ch.charCodeAt(0)] = K_TERM;
for (const ch of ',;:') ASCII[ch.charCodeAt(0)] = K_CLAUSE;
for (const ch of '([{') ASCII[ch.charCodeAt(0)] = K_OPEN;
for (const ch of ')]}') ASCII[ch.charCodeAt(0)] = K_CLOSE;
ASCII[45] = K_HYPHEN;

/**
 * Kind of a UTF-16 code unit. Below U+3100 (Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic,
 * Indic, Ethiopic, Myanmar …, general and CJK punctuation, kana) one table lookup; Han and
 * hangul one range check; the rest a switch (which V8 may compile to a chain of compares).
 */
export function kindOf(c: number): number {
  if (c < 0x3100) return LOW[c];
  if ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af)) return K_CJK;
  return classify(c);
}

function classify(c: number): number {
  if (c < 128) return ASCII[c];
  if (c >= 0x4e00 && c <= 0x9fff) return K_CJK;
  switch (c) {
    case 0xa0:
    case 0x1680:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return K_SPACE;
    case 0x85:
    case 0x2028:
    case 0x2029:
      return K_NEWLINE;
    case 0x2026: // …
    case 0x203d: // ‽
    case 0x037e: // ; Greek question mark
    case 0x203c: // ‼
    case 0x2047: // ⁇
    case 0x2048: // ⁈
    case 0x2049: // ⁉
      return K_TERM;
    case 0xab: // «
    case 0xbb: // »
    case 0x201c: // “
    case 0x201d: // ”
    case 0x201e: // „
      return K_QUOTE;
    case 0x0964: // । Devanagari danda
    case 0x0965: // ॥
    case 0x061f: // ؟ Arabic question mark
    case 0x06d4: // ۔ Urdu full stop
    case 0x0589: // ։ Armenian full stop
    case 0x1362: // ። Ethiopic full stop
    case 0x1367: // ፧ Ethiopic question mark
    case 0x1368: // ፨ Ethiopic paragraph separator
    case 0x104b: // ။ Myanmar section (full stop)
    case 0x17d4: // ។ Khmer full stop
    case 0x17d5: // ៕
    case 0x0f0d: // ། Tibetan shad
    case 0x0df4: // ෴ Sinhala
    case 0x1803: // ᠃ Mongolian full stop
      return K_CJK_TERM;
    case 0x060c: // ، Arabic comma
    case 0x061b: // ؛ Arabic semicolon
    case 0x055d: // ՝ Armenian comma
    case 0x0387: // · Greek ano teleia (semicolon)
      return K_CLAUSE;
    case 0x1363: // ፣ Ethiopic comma
    case 0x1364: // ፤ Ethiopic semicolon
    case 0x1365: // ፥ Ethiopic colon
    case 0x104a: // ၊ Myanmar little section
      return K_CJK_CLAUSE;
    case 0x3002: // 。
    case 0xff01: // ！
    case 0xff1f: // ？
    case 0xff1b: // ；
    case 0xff61: // ｡
    case 0xff0e: // ．
      return K_CJK_TERM;
    case 0xff0c: // ，
    case 0x3001: // 、
    case 0xff1a: // ：
      return K_CJK_CLAUSE;
    case 0x2013: // –
    case 0x2014: // —
      return K_DASH;
    case 0x2022: // •
    case 0x25e6: // ◦
    case 0x25aa: // ▪
    case 0x2023: // ‣
    case 0x2043: // ⁃
    case 0x25cf: // ●
      return K_BULLET;
    case 0xff08: // （
    case 0x300a: // 《
    case 0x3008: // 〈
    case 0x3010: // 【
    case 0x300c: // 「
    case 0x300e: // 『
    case 0x3014: // 〔
    case 0xff3b: // ［
      return K_OPEN;
    case 0xff09: // ）
    case 0x300b: // 》
    case 0x3009: // 〉
    case 0x3011: // 】
    case 0x300d: // 」
    case 0x300f: // 』
    case 0x3015: // 〕
    case 0xff3d: // ］
      return K_CLOSE;
  }
  if (c >= 0x2000 && c <= 0x200a) return K_SPACE;
  if (isCjk(c)) return K_CJK;
  return K_PLAIN;
}

const LOW = new Uint8Array(0x3100);
for (let c = 0; c < LOW.length; c++) LOW[c] = classify(c);

export function isSpace(c: number): boolean {
  const k = c < 128 ? ASCII[c] : kindOf(c);
  return k === K_SPACE || k === K_NEWLINE;
}

export function isNewline(c: number): boolean {
  return c === 10 || c === 0x85 || c === 0x2028 || c === 0x2029;
}

/** Scripts `language: 'auto'` tells apart (languages/index.ts maps each to its rules). */
export const S_NONE = 0;
export const S_LATIN = 1;
export const S_CYRILLIC = 2;
export const S_GREEK = 3;
export const S_ARMENIAN = 4;
export const S_HEBREW = 5;
export const S_ARABIC = 6;
export const S_DEVANAGARI = 7;
export const S_THAI = 8;
export const S_ETHIOPIC = 9;
export const S_MYANMAR = 10;
export const S_HAN = 11;
export const S_KANA = 12;
export const S_HANGUL = 13;
export const S_OTHER = 14;

/**
 * Script of a letter (S_NONE for digits, punctuation and spaces). Combining marks outside the
 * ranges below (U+0301, Devanagari vowel signs, Arabic harakat) are S_OTHER.
 */
export function scriptOf(c: number): number {
  if (c < 128) return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? S_LATIN : S_NONE;
  if (c < 0x250) return c >= 0xc0 && c !== 0xd7 && c !== 0xf7 ? S_LATIN : S_NONE;
  if (c >= 0x4e00 && c <= 0x9fff) return S_HAN;
  if (c >= 0x370 && c <= 0x3ff) return c === 0x37e || c === 0x387 ? S_NONE : S_GREEK;
  if (c >= 0x400 && c <= 0x52f) return S_CYRILLIC;
  if (c >= 0x531 && c <= 0x587) return S_ARMENIAN;
  if (c >= 0x5d0 && c <= 0x5ea) return S_HEBREW;
  if ((c >= 0x620 && c <= 0x64a) || (c >= 0x671 && c <= 0x6d3) || (c >= 0x750 && c <= 0x77f)) return S_ARABIC;
  if (c >= 0x904 && c <= 0x939) return S_DEVANAGARI;
  if (c >= 0xe01 && c <= 0xe30) return S_THAI;
  if (c >= 0x1000 && c <= 0x102a) return S_MYANMAR;
  if (c >= 0x1200 && c <= 0x135a) return S_ETHIOPIC;
  if (c >= 0x1e00 && c <= 0x1eff) return S_LATIN;
  if (c >= 0x1f00 && c <= 0x1fff) return S_GREEK;
  if (c >= 0x3040 && c <= 0x30ff) return S_KANA;
  if ((c >= 0xac00 && c <= 0xd7af) || (c >= 0x1100 && c <= 0x11ff)) return S_HANGUL;
  if ((c >= 0x3400 && c <= 0x4dbf) || (c >= 0xf900 && c <= 0xfaff)) return S_HAN;
  if (c >= 0xfb50 && c <= 0xfeff) return c >= 0xfe70 || c <= 0xfdff ? S_ARABIC : S_NONE;
  return isLetter(c) ? S_OTHER : S_NONE;
}

/** Han, kana, hangul, and full-width letters and digits (BMP only: never splits a surrogate pair). */
export function isCjk(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3040 && c <= 0x30ff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xac00 && c <= 0xd7af) ||
    (c >= 0xff10 && c <= 0xff5a) ||
    (c >= 0xff66 && c <= 0xff9f)
  );
}

export function isDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 0xff10 && c <= 0xff19);
}

export function isUpper(c: number): boolean {
  if (c < 128) return c >= 65 && c <= 90;
  if (c < 0xc0 || isCjk(c)) return false;
  const s = String.fromCharCode(c);
  return s.toLowerCase() !== s;
}

export function isLower(c: number): boolean {
  if (c < 128) return c >= 97 && c <= 122;
  if (c < 0xc0 || isCjk(c)) return false;
  const s = String.fromCharCode(c);
  return s.toUpperCase() !== s;
}

/** Letters and combining marks of any script: marks (Thai vowels, Devanagari signs) belong to their word. */
const LETTER_OR_MARK = /[\p{L}\p{M}]/u;

/** A letter of any script, cased (Latin, Greek, Cyrillic) or not (Arabic, Hebrew, Thai, CJK). */
export function isLetter(c: number): boolean {
  if (c < 128) return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  if (c < 0xc0) return c === 0xaa || c === 0xb5 || c === 0xba;
  return isCjk(c) || LETTER_OR_MARK.test(String.fromCharCode(c));
}

/**
 * Closing quotes and brackets that belong to the sentence when they follow its terminator
 * (`."`, `.)`, `。」`, `.“` in German, `.**` in markdown bold).
 */
export function isCloser(c: number): boolean {
  switch (c) {
    case 0x22: // "
    case 0x27: // '
    case 0x29: // )
    case 0x5d: // ]
    case 0x7d: // }
    case 0x2a: // *
    case 0x5f: // _
    case 0x60: // `
    case 0x7e: // ~
    case 0x201d: // ”
    case 0x201c: // “ (German closing quote)
    case 0x2019: // ’
    case 0x2018: // ‘
    case 0xbb: // »
    case 0xab: // « (German »…« style)
    case 0x203a: // ›
    case 0x2039: // ‹
    case 0xff02: // ＂
    case 0xff07: // ＇
      return true;
  }
  return kindOf(c) === K_CLOSE;
}

/** Opening quotes and brackets (and Spanish ¿ ¡) that may precede a word. */
export function isOpener(c: number): boolean {
  switch (c) {
    case 0x22:
    case 0x27:
    case 0x2a:
    case 0x5f:
    case 0x60:
    case 0x7e:
    case 0x201c: // “
    case 0x2018: // ‘
    case 0x201e: // „
    case 0x201a: // ‚
    case 0xab: // «
    case 0xbb: // » (German »…« style)
    case 0x2039:
    case 0x203a:
    case 0xbf: // ¿
    case 0xa1: // ¡
      return true;
  }
  return kindOf(c) === K_OPEN;
}

export function isTerminator(c: number): boolean {
  const k = kindOf(c);
  return k === K_TERM || k === K_CJK_TERM;
}
