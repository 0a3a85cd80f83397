// Character classes for the segmenter's hot loop: one table lookup per ASCII char, a switch for
// the few non-ASCII code points that matter. Everything here works on UTF-16 code units.

/** Nothing special: letters, digits, most symbols. */
export const K_PLAIN = 0;
export const K_SPACE = 1;
export const K_NEWLINE = 2;
/** Latin sentence terminators: . ! ? … ‽ */
export const K_TERM = 3;
/** Clause punctuation that needs a space after it to count: , ; : */
export const K_CLAUSE = 4;
export const K_OPEN = 5;
export const K_CLOSE = 6;
/** ASCII hyphen: a clause boundary only as " - ". */
export const K_HYPHEN = 7;
/** Em dash and en dash. */
export const K_DASH = 8;
/** Full-width terminators that need no space: 。！？；｡．*/
export const K_CJK_TERM = 9;
/** Full-width clause marks: ，、： */
export const K_CJK_CLAUSE = 10;
/** Han, kana, hangul, full-width letters and digits: a word boundary sits between two of them. */
export const K_CJK = 11;
/** List bullets: • ◦ ▪ ‣ ⁃ ● */
export const K_BULLET = 12;

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

export function kindOf(c: number): number {
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
      return K_TERM;
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

export function isSpace(c: number): boolean {
  const k = c < 128 ? ASCII[c] : kindOf(c);
  return k === K_SPACE || k === K_NEWLINE;
}

export function isNewline(c: number): boolean {
  return c === 10 || c === 0x85 || c === 0x2028 || c === 0x2029;
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
