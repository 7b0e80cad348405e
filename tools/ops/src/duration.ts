/** Milliseconds per unit letter. */
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export type DurationUnit = keyof typeof UNIT_MS;

/** Which spellings an option accepts, so each command keeps the syntax its help and runbook show. */
export interface DurationSyntax {
  /** Unit letters accepted after the number; default `s m h d`. */
  units?: readonly DurationUnit[];
  /** The unit of a bare number (`90`); undefined means a unit letter is required. */
  bare?: DurationUnit;
}

const DEFAULT_UNITS: readonly DurationUnit[] = ["s", "m", "h", "d"];

const isUnit = (letter: string): letter is DurationUnit => Object.hasOwn(UNIT_MS, letter);

function unitOf(letter: string, syntax: DurationSyntax): DurationUnit | undefined {
  if (letter === "") return syntax.bare;
  return isUnit(letter) && (syntax.units ?? DEFAULT_UNITS).includes(letter) ? letter : undefined;
}

/**
 * The one duration parser of aa-ops: a positive whole number and a unit (`30s`, `5m`, `48h`, `90d`) in
 * milliseconds; undefined when `raw` is not such a duration, so each caller words its own usage error.
 */
export function durationMs(raw: string, syntax: DurationSyntax = {}): number | undefined {
  const match = /^([1-9][0-9]*)([a-z]?)$/.exec(raw.trim());
  if (match === null) return undefined;
  const unit = unitOf(match[2] ?? "", syntax);
  return unit === undefined ? undefined : Number(match[1]) * UNIT_MS[unit];
}

/** Whole seconds without a unit (`90`), as `--drain-timeout` and `--probe-timeout` take them. */
export const WHOLE_SECONDS: DurationSyntax = { units: [], bare: "s" };
