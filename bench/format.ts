/** A value and its unit, grouped by thousands; milliseconds to one decimal. */
export const fmt = (value: number, unit: string): string => {
  const digits = unit === "ms" ? 1 : 0;
  return `${value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${unit}`;
};

/** A ratio as a whole percentage. */
export const pct = (ratio: number): string => `${(ratio * 100).toFixed(0)}%`;

/** Columns padded to their widest cell; `numeric` columns are right-aligned. */
export function renderTable(header: string[], rows: string[][], numeric: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const render = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [render(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(render)];
}
