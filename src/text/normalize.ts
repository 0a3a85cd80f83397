// Speech normalization for LLM output: removes what a TTS engine would read aloud as noise
// (markdown syntax, emoji, stray symbols) and changes nothing else of what is spoken.
// The session applies it to each segment after the segmenter has cut it (markdown spans can
// cross deltas; a segment is whole). It works on whole texts too. Not idempotent: a backslash
// escape ("\*") comes out as the bare character, which a second pass reads as markdown.

/** ``` or ~~~ opening or closing a code block; a glued info string ("```python") goes too. */
const FENCE_OPEN = /^\s*(?:`{3,}|~{3,})[\w+#.-]*\s*/;
const FENCE_CLOSE = /\s*(?:`{3,}|~{3,})\s*$/;
const RULE_LINE = /^\s*([-*_])(?:\s*\1){2,}\s*$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const HEADING = /^\s{0,3}#{1,6}\s+/;
const HEADING_CLOSE = /\s+#+\s*$/;
const BLOCKQUOTE = /^\s*(?:>\s?)+/;
const BULLET = /^\s*[-*+•◦▪‣⁃●]\s+/;
const TASK_BOX = /^\[[ xX]\]\s+/;
const TABLE_CELL_SEPARATOR = /^:?-{2,}:?$/;

const CODE_SPAN = /(`+)(.+?)\1(?!`)/g;
const IMAGE = /!\[([^\]]*)\]\([^)]*\)/g;
const LINK = /\[([^\]]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
const REFERENCE_LINK = /\[([^\]]+)\]\[[^\]]*\]/g;
const AUTOLINK = /<((?:https?|mailto|ftp):[^>\s]+)>/g;
const HTML_BREAK = /<br\s*\/?>/gi;
const HTML_TAG = /<\/?(?:b|i|em|strong|u|s|del|ins|sup|sub|code|span|p|div|small|mark|kbd|strike)\b[^>]*>/gi;
const STRAY_BACKTICKS = /`+/g;

/**
 * Emoji: a pictograph or a regional-indicator flag with its modifiers, joiners, variation
 * selectors and tags, and the spaces before it ("Great 👍." → "Great."). ©, ®, ™, ‼, ⁉ are
 * pictographs in Unicode but ordinary symbols in text: they stay.
 */
const EMOJI =
  /\s*(?:(?![©®™‼⁉])\p{Extended_Pictographic}|\p{Regional_Indicator})(?:(?![©®™‼⁉])\p{Extended_Pictographic}|\p{Regional_Indicator}|[\u{1F3FB}-\u{1F3FF}]|\u200D|\uFE0E|\uFE0F|\u20E3|[\u{E0020}-\u{E007F}])*/gu;
const LONE_EMOJI_PARTS = /\uFE0F|\u20E3|[\u{1F3FB}-\u{1F3FF}]/gu;
/** Bullets and geometric shapes used as decoration, box drawing, block elements. */
const STRAY_SYMBOLS = /[•◦▪▫‣⁃●○■□▶►◆◇\u2500-\u259F]/g;
// eslint-disable-next-line no-control-regex -- removing control characters is the point
const INVISIBLE = /[\u200B\u2060\uFEFF\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;
const WHITESPACE = /\s+/g;
const SPEAKABLE = /[\p{L}\p{N}]/u;
const WHITESPACE_CHAR = /\s/;

/**
 * Returns the text as it should be spoken: markdown syntax removed (emphasis markers,
 * headings, bullets, block quotes, code fences and inline-code backticks, tables become
 * comma-separated cells, links and images become their text), emoji and decorative symbols
 * removed, whitespace collapsed. Lines stay separate; empty lines go. Text with no letter or
 * digit left has nothing to speak and becomes ''.
 */
export function normalizeForSpeech(text: string): string {
  const lines = text.split(/\r?\n|\r|\u2028|\u2029/);
  const out: string[] = [];
  for (const raw of lines) {
    const line = normalizeLine(raw);
    if (line.length > 0) out.push(line);
  }
  const joined = out.join('\n');
  return SPEAKABLE.test(joined) ? joined : '';
}

function normalizeLine(raw: string): string {
  let line = raw.replace(INVISIBLE, '');
  if (RULE_LINE.test(line) || TABLE_SEPARATOR.test(line)) return '';
  line = line.replace(FENCE_OPEN, '').replace(FENCE_CLOSE, '');
  if (HEADING.test(line)) line = line.replace(HEADING, '').replace(HEADING_CLOSE, '');
  line = line.replace(BLOCKQUOTE, '');
  if (BULLET.test(line)) line = line.replace(BULLET, '').replace(TASK_BOX, '');
  const trimmed = line.trim();
  if (trimmed.startsWith('|')) line = tableRow(trimmed);
  line = inline(line);
  line = line.replace(EMOJI, '').replace(LONE_EMOJI_PARTS, '').replace(STRAY_SYMBOLS, ' ');
  return line.replace(WHITESPACE, ' ').trim();
}

function tableRow(line: string): string {
  const cells: string[] = [];
  for (const cell of line.split('|')) {
    const c = cell.trim();
    if (c.length > 0 && !TABLE_CELL_SEPARATOR.test(c)) cells.push(c);
  }
  return cells.join(', ');
}

/** Inline markdown outside code spans; code span contents stay verbatim. */
function inline(line: string): string {
  if (line.indexOf('`') < 0) return inlineText(line);
  let out = '';
  let last = 0;
  CODE_SPAN.lastIndex = 0;
  for (let m = CODE_SPAN.exec(line); m !== null; m = CODE_SPAN.exec(line)) {
    out += inlineText(line.slice(last, m.index)) + m[2].trim();
    last = m.index + m[0].length;
  }
  return out + inlineText(line.slice(last)).replace(STRAY_BACKTICKS, '');
}

function inlineText(text: string): string {
  if (text.length === 0) return text;
  let s = text;
  if (s.indexOf('[') >= 0) s = s.replace(IMAGE, '$1').replace(LINK, '$1').replace(REFERENCE_LINK, '$1');
  if (s.indexOf('<') >= 0) s = s.replace(AUTOLINK, '$1').replace(HTML_BREAK, ' ').replace(HTML_TAG, '');
  return stripEmphasis(s);
}

const ESCAPABLE = new Set('\\`*_{}[]()#+-.!|>~');

/**
 * Removes runs of * _ ~~ that open or close emphasis (they touch a word on one side and a
 * space, punctuation or the line's end on the other), and markdown backslash escapes.
 * Standalone symbols stay: "2 * 3", "snake_case", "2*3", "~5 minutes".
 */
function stripEmphasis(s: string): string {
  let out = '';
  let last = 0;
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s[i];
    if (c === '\\' && i + 1 < n && ESCAPABLE.has(s[i + 1])) {
      out += s.slice(last, i) + s[i + 1];
      i += 2;
      last = i;
      continue;
    }
    if (c !== '*' && c !== '_' && c !== '~') {
      i++;
      continue;
    }
    let r = i + 1;
    while (r < n && s[r] === c) r++;
    const before = i > 0 ? s[i - 1] : '';
    const after = r < n ? s[r] : '';
    const runLength = r - i;
    const opens = after !== '' && !WHITESPACE_CHAR.test(after);
    const closes = before !== '' && !WHITESPACE_CHAR.test(before);
    let remove = opens || closes;
    if (c === '~' && runLength < 2) remove = false;
    else if (isWordChar(before) && isWordChar(after) && (c === '_' || runLength === 1)) remove = false;
    if (remove) {
      out += s.slice(last, i);
      last = r;
    }
    i = r;
  }
  return last === 0 ? s : out + s.slice(last);
}

function isWordChar(ch: string): boolean {
  return ch !== '' && SPEAKABLE.test(ch);
}
