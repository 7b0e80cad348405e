/**
 * NATS subject matching. Tokens are separated by `.`; `*` matches one token and
 * `>` (last token only) matches one or more.
 */

/** True when every subject matched by `subject` is also matched by `pattern`. */
export function patternCovers(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return s.length > i;
    const other = s[i];
    if (other === undefined) return false;
    if (token === "*") {
      if (other === ">") return false;
      continue;
    }
    if (token !== other) return false;
  }
  return p.length === s.length;
}

/** True when some concrete subject is matched by both patterns (JetStream error 10065). */
export function patternsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const s = x[i];
    const t = y[i];
    if (s === ">" || t === ">") return s !== undefined && t !== undefined;
    if (s === undefined || t === undefined) return false;
    if (s !== "*" && t !== "*" && s !== t) return false;
  }
  return true;
}

/** The first of `patterns` that covers `subject`, if any. */
export function coveringPattern(patterns: readonly string[], subject: string): string | undefined {
  return patterns.find((pattern) => patternCovers(pattern, subject));
}
