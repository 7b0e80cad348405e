const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30s`, `30m`, `48h`, `7d` in milliseconds; undefined when `raw` is not such a duration. */
export function durationMs(raw: string): number | undefined {
  const match = /^([1-9][0-9]*)([smhd])$/.exec(raw.trim());
  return match ? Number(match[1]) * (UNIT_MS[match[2] as string] as number) : undefined;
}
