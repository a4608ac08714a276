/**
 * Java `Matcher.replaceAll` replacement templates (`$n`, `${name}`, `\x`), compiled once into
 * literal and group parts so that applying one never parses, throws or fails at request time.
 * Every case where Java would throw (JDK 17 `Matcher.appendExpandedReplacement`) is a compile error.
 */

/** Literal text, or the number of a group whose text is inserted ("" when it did not take part). */
export type TemplatePart = string | number;

const isAsciiAlnum = (c: string): boolean => /^[A-Za-z0-9]$/.test(c);
const isDigit = (c: string | undefined): c is string => c !== undefined && c >= '0' && c <= '9';

/** Compiles `template` against a pattern with `groupCount` groups and the given named groups. */
export function compileJavaTemplate(
  template: string,
  groupCount: number,
  groupNames: ReadonlyMap<string, number>,
): { readonly parts: readonly TemplatePart[] } | { readonly error: string } {
  const parts: TemplatePart[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') parts.push(text);
    text = '';
  };
  const groups = `the pattern has ${groupCount === 0 ? 'no capturing groups' : groupCount === 1 ? '1 capturing group' : `${groupCount} capturing groups`}`;
  let i = 0;
  while (i < template.length) {
    const c = template[i] ?? '';
    if (c === '\\') {
      const next = template[i + 1];
      if (next === undefined) return { error: 'trailing "\\": character to be escaped is missing (write \\\\ for a literal \\)' };
      text += next;
      i += 2;
      continue;
    }
    if (c !== '$') {
      text += c;
      i += 1;
      continue;
    }
    const next = template[i + 1];
    if (next === undefined) return { error: 'lone "$" at the end: group index is missing (write \\$ for a literal $)' };
    if (next === '{') {
      let end = i + 2;
      while (end < template.length && isAsciiAlnum(template[end] ?? '')) end += 1;
      const name = template.slice(i + 2, end);
      if (name === '') return { error: `"\${" at offset ${i}: named capturing group has 0 length name` };
      if (template[end] !== '}') return { error: `"\${${name}" at offset ${i}: named capturing group is missing trailing "}" (names are ASCII letters and digits)` };
      if (isDigit(name[0])) return { error: `"\${${name}}": capturing group name starts with a digit` };
      const ref = groupNames.get(name);
      if (ref === undefined) return { error: `"\${${name}}": no group named "${name}" in the pattern` };
      flush();
      parts.push(ref);
      i = end + 1;
      continue;
    }
    if (!isDigit(next)) {
      return { error: `illegal group reference "$${next}" at offset ${i} (write \\$ for a literal $)` };
    }
    // The first digit is always the group; Java appends digits while the number still names one.
    let ref = next.charCodeAt(0) - 48;
    let end = i + 2;
    for (let d = template[end]; isDigit(d) && ref * 10 + (d.charCodeAt(0) - 48) <= groupCount; d = template[end]) {
      ref = ref * 10 + (d.charCodeAt(0) - 48);
      end += 1;
    }
    if (ref > groupCount) return { error: `"$${ref}" refers to group ${ref}, but ${groups}` };
    flush();
    parts.push(ref);
    i = end;
  }
  flush();
  return { parts };
}

/** Java `Matcher.replaceAll(template)`: replaces every `find()` match, empty ones included. */
export function javaReplaceAll(global: RegExp, input: string, parts: readonly TemplatePart[]): string {
  let out = '';
  let last = 0;
  global.lastIndex = 0;
  for (let m = global.exec(input); m !== null; m = global.exec(input)) {
    out += input.slice(last, m.index);
    for (let k = 0; k < parts.length; k++) {
      const part = parts[k];
      out += typeof part === 'string' ? part : (m[part ?? 0] ?? '');
    }
    last = m.index + m[0].length;
    // Step over an empty match by a whole code point: with the `u` flag V8 would otherwise
    // step back to the pair's start and loop. (Java steps one UTF-16 unit.)
    if (m[0].length === 0) global.lastIndex = last + (isPair(input, last) ? 2 : 1);
  }
  global.lastIndex = 0;
  return out + input.slice(last);
}

const isPair = (s: string, i: number): boolean => {
  const hi = s.charCodeAt(i);
  const lo = s.charCodeAt(i + 1);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
};

