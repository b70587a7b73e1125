/**
 * A strict XML 1.0 well-formedness check for tests (no XML parser ships with Node): one root
 * element, balanced and correctly nested tags, quoted attributes without `<` and unique per element,
 * only the five predefined entities and character references to legal characters, and no character
 * XML 1.0 forbids (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF).
 * Returns null when the text is well-formed, else the first problem with its offset.
 */

// Names: ASCII letters, '_', ':' and anything from U+00C0 up (a little laxer than XML's table, enough for tests).
const NAME_START = /[A-Za-z_:\u00c0-\uffff]/;
const NAME_CHAR = /[-.0-9A-Za-z_:\u00b7\u00c0-\uffff]/;

function legalCodePoint(c: number): boolean {
  return c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

export function xmlWellFormedError(text: string): string | null {
  // Every character must be legal, surrogates only in pairs.
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i)!;
    if (cp > 0xffff) {
      i++;
      continue;
    }
    if (!legalCodePoint(cp)) return `illegal character U+${cp.toString(16).padStart(4, '0')} at ${i}`;
  }
  let i = 0;
  const stack: string[] = [];
  let rootSeen = false;
  const fail = (what: string) => `${what} at ${i}`;
  const name = (): string | null => {
    if (!NAME_START.test(text[i] ?? '')) return null;
    const s = i;
    i++;
    while (i < text.length && NAME_CHAR.test(text[i])) i++;
    return text.slice(s, i);
  };
  const ws = () => {
    while (i < text.length && /[ \t\r\n]/.test(text[i])) i++;
  };
  /** `&...;` at i: a predefined entity or a reference to a legal character. */
  const reference = (): string | null => {
    const m = /^&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9a-fA-F]+));/.exec(text.slice(i, i + 12));
    if (!m) return fail('bad reference');
    if (m[2] || m[3]) {
      const cp = m[2] ? Number(m[2]) : parseInt(m[3], 16);
      if (!legalCodePoint(cp)) return fail(`reference to illegal character ${cp}`);
    }
    i += m[0].length;
    return null;
  };
  if (text.startsWith('<?xml', i)) {
    const end = text.indexOf('?>', i);
    if (end < 0) return fail('unterminated XML declaration');
    i = end + 2;
  }
  while (i < text.length) {
    if (stack.length === 0) {
      ws();
      if (i >= text.length) break;
      if (rootSeen && !text.startsWith('<!--', i)) return fail('content after the root element');
      if (text[i] !== '<') return fail('text outside the root element');
    }
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0 || text.slice(i + 4, end).includes('--')) return fail('bad comment');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) return fail('CDATA outside the root element');
      const end = text.indexOf(']]>', i);
      if (end < 0) return fail('unterminated CDATA');
      i = end + 3;
    } else if (text.startsWith('</', i)) {
      i += 2;
      const n = name();
      if (!n) return fail('bad end-tag name');
      ws();
      if (text[i] !== '>') return fail('bad end tag');
      i++;
      const open = stack.pop();
      if (open !== n) return fail(`</${n}> closes <${open ?? 'nothing'}>`);
    } else if (text[i] === '<') {
      i++;
      const n = name();
      if (!n) return fail('bad tag name');
      if (stack.length === 0) {
        if (rootSeen) return fail('a second root element');
        rootSeen = true;
      }
      const attrs = new Set<string>();
      for (;;) {
        const before = i;
        ws();
        if (text.startsWith('/>', i)) {
          i += 2;
          break;
        }
        if (text[i] === '>') {
          i++;
          stack.push(n);
          break;
        }
        if (i === before) return fail(`no space before an attribute of <${n}>`);
        const a = name();
        if (!a) return fail(`bad attribute in <${n}>`);
        if (attrs.has(a)) return fail(`attribute ${a} twice in <${n}>`);
        attrs.add(a);
        ws();
        if (text[i] !== '=') return fail(`attribute ${a} without a value`);
        i++;
        ws();
        const q = text[i];
        if (q !== '"' && q !== "'") return fail(`unquoted attribute ${a}`);
        i++;
        while (i < text.length && text[i] !== q) {
          if (text[i] === '<') return fail(`< inside attribute ${a}`);
          if (text[i] === '&') {
            const e = reference();
            if (e) return e;
          } else i++;
        }
        if (i >= text.length) return fail(`unterminated attribute ${a}`);
        i++;
      }
    } else if (text[i] === '&') {
      const e = reference();
      if (e) return e;
    } else {
      if (text.startsWith(']]>', i)) return fail(']]> in text');
      i++;
    }
  }
  if (stack.length > 0) return `<${stack[stack.length - 1]}> is never closed`;
  if (!rootSeen) return 'no root element';
  return null;
}
