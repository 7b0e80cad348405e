/** Deepest nesting of objects and arrays an ingest body may have (device `raw` documents are shallow). */
export const MAX_BODY_DEPTH = 64;

/**
 * True when `value` nests objects/arrays deeper than `limit`. Iterative on purpose: a recursive
 * walk (ours, JSON.stringify, a validator) overflows the stack on a hostile body, which was a 500.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: { node: unknown; depth: number }[] = [{ node: value, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (node === null || typeof node !== "object" || ArrayBuffer.isView(node)) continue;
    if (depth + 1 > limit) return true;
    for (const child of Object.values(node)) stack.push({ node: child, depth: depth + 1 });
  }
  return false;
}
