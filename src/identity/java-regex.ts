/**
 * Translates a Java `java.util.regex.Pattern` (compiled without flags, as Trino compiles
 * user-mapping patterns) into a JavaScript `u`-mode RegExp with the same matches. Java syntax
 * whose meaning JS lacks or silently changes is rejected with a message instead of guessed.
 */

export interface JavaRegex {
  /** `^(?:p)$`: Java `Matcher.matches()`. */
  readonly whole: RegExp;
  /** Global and unanchored: the `find()` loop of Java `Matcher.replaceAll`. */
  readonly global: RegExp;
  readonly groupCount: number;
  /** Group name → group number. */
  readonly groupNames: ReadonlyMap<string, number>;
}

class Unsupported extends Error {}

// Java `.` stops at these five, JS `.` only at four (not U+0085).
const TERMINATORS = '\\n\\r\\u0085\\u2028\\u2029';
const DOT = `[^${TERMINATORS}]`;
const ANY = '[\\s\\S]';
const BEGIN = '(?<![\\s\\S])';
const END = '(?![\\s\\S])';
// Java `$` and `\Z`: end of input, or just before a final line terminator (never inside \r\n).
const DOLLAR = `(?:${END}|(?=(?:\\r\\n|[${TERMINATORS}])${END})(?<!\\r(?=\\n)))`;
const VSPACE = '\\n\\x0B\\f\\r\\x85\\u2028\\u2029';
const HSPACE = ' \\t\\xA0\\u1680\\u180E\\u2000-\\u200A\\u202F\\u205F\\u3000';

/** Class bodies for Java escapes whose JS meaning differs (Java `\s` is ASCII only). */
const CLASS_ESCAPES: Readonly<Record<string, { readonly body: string; readonly negated: boolean }>> = {
  s: { body: ' \\t\\n\\x0B\\f\\r', negated: false },
  S: { body: '\\x00-\\x08\\x0E-\\x1F!-\\u{10FFFF}', negated: false },
  h: { body: HSPACE, negated: false },
  H: { body: HSPACE, negated: true },
  v: { body: VSPACE, negated: false },
  V: { body: VSPACE, negated: true },
};

/** Java POSIX classes are ASCII-only; JS `\p{Alpha}` etc. would silently mean Unicode. */
const POSIX: Readonly<Record<string, string>> = {
  Lower: 'a-z', Upper: 'A-Z', ASCII: '\\x00-\\x7F', Alpha: 'a-zA-Z', Digit: '0-9', Alnum: 'a-zA-Z0-9',
  Punct: '!-\\/:-@\\[-`{-~', Graph: '!-~', Print: ' -~', Blank: ' \\t', Cntrl: '\\x00-\\x1F\\x7F',
  XDigit: '0-9a-fA-F', Space: ' \\t\\n\\x0B\\f\\r',
};

const SYNTAX = new Set('^$\\.*+?()[]{}|/');
const CLASS_SYNTAX = new Set('\\]^-[');

const literal = (ch: string, inClass: boolean): string =>
  (inClass ? CLASS_SYNTAX : SYNTAX).has(ch) ? `\\${ch}` : ch;

const hexChar = (code: number): string => `\\u{${code.toString(16)}}`;

const validProperty = (body: string): boolean => {
  try {
    new RegExp(`\\p{${body}}`, 'u');
    return true;
  } catch {
    return false;
  }
};

/** `\p{name}` → a JS class body (POSIX) or property escape body. */
function property(name: string, negated: boolean, inClass: boolean): string {
  const posix = POSIX[name];
  if (posix !== undefined) {
    if (negated && inClass) throw new Unsupported(`\\P{${name}} inside a character class is not supported`);
    return inClass ? posix : `[${negated ? '^' : ''}${posix}]`;
  }
  if (/^(In|blk=|block=)/i.test(name)) throw new Unsupported(`Unicode blocks (\\p{${name}}) are not supported`);
  if (name.startsWith('java')) throw new Unsupported(`\\p{${name}} is not supported`);
  const eq = /^(sc|script|gc|general_category)=(.+)$/i.exec(name);
  const bare = name.startsWith('Is') ? name.slice(2) : name;
  const candidates = eq !== null
    ? [`${/^(sc|script)$/i.test(eq[1] ?? '') ? 'Script' : 'General_Category'}=${eq[2] ?? ''}`]
    : [bare, `Script=${bare}`];
  const body = candidates.find(validProperty);
  if (body === undefined) throw new Unsupported(`unknown or unsupported property \\p{${name}}`);
  return `\\${negated ? 'P' : 'p'}{${body}}`;
}

interface State {
  readonly p: string;
  i: number;
  groups: number;
  readonly names: Map<string, number>;
}

/** Matches the sticky `re` at `s.i` and, on success, moves past it. */
function take(s: State, re: RegExp): RegExpExecArray | null {
  re.lastIndex = s.i;
  const m = re.exec(s.p);
  if (m !== null) s.i = re.lastIndex;
  return m;
}

/** Translates the escape at `s.i` (a backslash) and advances past it. */
function escape(s: State, inClass: boolean): string {
  const { p } = s;
  const c = p[s.i + 1];
  if (c === undefined) throw new Unsupported('trailing "\\" (nothing to escape)');
  s.i += 2;
  const outsideOnly = (js: string): string => {
    if (inClass) throw new Unsupported(`\\${c} is not allowed inside a character class`);
    return js;
  };
  switch (c) {
    case 'Q': {
      const end = p.indexOf('\\E', s.i);
      const text = end < 0 ? p.slice(s.i) : p.slice(s.i, end);
      s.i = end < 0 ? p.length : end + 2;
      return Array.from(text, (ch) => literal(ch, inClass)).join('');
    }
    case 'A': return outsideOnly(BEGIN);
    case 'z': return outsideOnly(END);
    case 'Z': return outsideOnly(DOLLAR);
    case 'R': return outsideOnly(`(?:\\r\\n|[${VSPACE}])`);
    case 'G': case 'X': case 'N': case 'K':
      throw new Unsupported(`\\${c} is not supported`);
    case 'a': return '\\x07';
    case 'e': return '\\x1B';
    case 'c': {
      const ctl = p.charCodeAt(s.i);
      if (Number.isNaN(ctl)) throw new Unsupported('\\c needs a control character');
      s.i += 1;
      return hexChar(ctl ^ 64);
    }
    case 'x': {
      if (p[s.i] !== '{') return '\\x';
      const hex = take(s, /\{([0-9a-fA-F]+)\}/y)?.[1];
      if (hex === undefined || parseInt(hex, 16) > 0x10ffff) throw new Unsupported('invalid \\x{...} escape');
      return hexChar(parseInt(hex, 16));
    }
    case '0': {
      // Java octal: \0n, \0nn, \0mnn (m <= 3).
      const oct = take(s, /[0-3][0-7]{2}|[0-7]{1,2}/y)?.[0];
      if (oct === undefined) throw new Unsupported('illegal octal escape \\0');
      return hexChar(parseInt(oct, 8));
    }
    case 'p': case 'P': {
      const hit = take(s, /\{([^}]*)\}|([A-Za-z])/y);
      if (hit === null) throw new Unsupported(`\\${c} needs a property name`);
      return property(hit[1] ?? hit[2] ?? '', c === 'P', inClass);
    }
    default:
      break;
  }
  const cls = CLASS_ESCAPES[c];
  if (cls !== undefined) {
    if (!inClass) return `[${cls.negated ? '^' : ''}${cls.body}]`;
    if (cls.negated) throw new Unsupported(`\\${c} inside a character class is not supported`);
    return cls.body;
  }
  if (c >= '1' && c <= '9' && !inClass) {
    // Java reads further digits only while the number names a group opened so far.
    let ref = c.charCodeAt(0) - 48;
    for (let d = p.charCodeAt(s.i) - 48; d >= 0 && d <= 9 && ref * 10 + d <= s.groups; d = p.charCodeAt(s.i) - 48) {
      ref = ref * 10 + d;
      s.i += 1;
    }
    return `(?:\\${ref})`;
  }
  // Letters and digits are escapes JS shares (\d \w \b \t \n \u ...) or errors JS reports too.
  return /[A-Za-z0-9]/.test(c) ? `\\${c}` : literal(c, inClass);
}

/** Translates `(` at `s.i`: capturing, named, lookaround; rejects what JS lacks. */
function group(s: State): string {
  const { p } = s;
  if (p[s.i + 1] !== '?') {
    s.groups += 1;
    s.i += 1;
    return '(';
  }
  for (const open of ['(?:', '(?=', '(?!', '(?<=', '(?<!']) {
    if (p.startsWith(open, s.i)) {
      s.i += open.length;
      return open;
    }
  }
  if (p.startsWith('(?<', s.i)) {
    // Java group names are ASCII: a letter, then letters or digits.
    const name = take(s, /\(\?<([A-Za-z][A-Za-z0-9]*)>/y)?.[1];
    if (name === undefined) throw new Unsupported('invalid group name (Java allows a letter followed by letters and digits)');
    if (s.names.has(name)) throw new Unsupported(`named group <${name}> is defined twice`);
    s.groups += 1;
    s.names.set(name, s.groups);
    return `(?<${name}>`;
  }
  if (p.startsWith('(?>', s.i)) throw new Unsupported('atomic groups (?>...) are not supported');
  if (/\(\?[a-zA-Z-]*[:)]/y.test(p.slice(s.i))) {
    throw new Unsupported('inline flags are only supported at the very start of the pattern, as (?i), (?s) or (?u)');
  }
  s.i += 1;
  return '('; // JS reports the error
}

function translate(p: string): { source: string; flags: string; groups: number; names: Map<string, number> } {
  const s: State = { p, i: 0, groups: 0, names: new Map() };
  let caseless = false;
  let dotAll = false;
  const lead = /\(\?([a-zA-Z-]*)\)/y;
  for (let m = lead.exec(p); m !== null; m = lead.exec(p)) {
    for (const f of m[1] ?? '') {
      if (f === 'i') caseless = true;
      else if (f === 's') dotAll = true;
      else if (f !== 'u') throw new Unsupported(`inline flag (?${f}) is not supported`);
    }
    s.i = lead.lastIndex;
  }
  let out = '';
  let inClass = false;
  let quantified = false; // the previous token was a quantifier
  while (s.i < p.length) {
    const c = p[s.i] ?? '';
    if (inClass) {
      if (c === '\\') out += escape(s, true);
      else if (c === '[') throw new Unsupported('nested character classes (unions such as [a[b]]) are not supported');
      else if (c === '&' && p[s.i + 1] === '&') throw new Unsupported('character class intersections (&&) are not supported');
      else {
        inClass = c !== ']';
        out += c;
        s.i += 1;
      }
      continue;
    }
    const wasQuantified: boolean = quantified;
    quantified = false;
    if (c === '*' || c === '+' || c === '?') {
      if (wasQuantified && c === '+') throw new Unsupported('possessive quantifiers (such as a++ or a*+) are not supported');
      out += c;
      s.i += 1;
      quantified = !(wasQuantified && c === '?'); // a lazy `?` ends the quantifier
      continue;
    }
    const brace = c === '{' ? take(s, /\{\d+(?:,\d*)?\}/y) : null;
    if (brace !== null) {
      out += brace[0];
      quantified = true;
      continue;
    }
    if (c === '\\') out += escape(s, false);
    else if (c === '(') out += group(s);
    else {
      s.i += 1;
      if (c === '[') {
        out += '[';
        if (p[s.i] === '^') out += p[s.i++];
        // Java takes a `]` right after `[` or `[^` literally; JS would close the class.
        if (p[s.i] === ']') out += '\\' + p[s.i++];
        inClass = true;
      } else if (c === '.') out += dotAll ? ANY : DOT;
      else if (c === '$') out += DOLLAR;
      else if (c === '}' || c === ']') out += `\\${c}`;
      else out += c;
    }
  }
  return { source: out, flags: caseless ? 'iu' : 'u', groups: s.groups, names: s.names };
}

/** Compiles a Java pattern, or returns why it cannot be used. */
export function compileJavaRegex(pattern: string): JavaRegex | { readonly error: string } {
  try {
    const t = translate(pattern);
    const global = new RegExp(t.source, `${t.flags}g`);
    const whole = new RegExp(`^(?:${t.source})$`, t.flags);
    // The empty alternative always matches, so the result has one slot per group.
    const probe = new RegExp(`${t.source}|`, t.flags).exec('');
    if (probe === null || probe.length - 1 !== t.groups) throw new Unsupported('could not count the capturing groups');
    return { whole, global, groupCount: t.groups, groupNames: t.names };
  } catch (e: unknown) {
    if (e instanceof Unsupported) return { error: e.message };
    // V8: "Invalid regular expression: /<translated source>/u: <reason>"; keep only the reason.
    const message = e instanceof Error ? e.message : String(e);
    return { error: message.slice(message.lastIndexOf(': ') + 1).trim() || message };
  }
}
