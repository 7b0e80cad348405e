// RFC 3339 `full-date` and `date-time` (a time zone offset required), accepting exactly what ajv-formats' full mode
// accepts (test/unit/date-formats.test.ts compares them), without allocating: ingest and normalize check these formats
// on every event, and ajv-formats' capture groups, split() and substrings were about 7 % of what each process allocated
// per event. A shape regex is tested (no match array), then the numbers are read digit by digit.

const FULL_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[t\s]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:z|[+-]\d{2}(?::?\d{2})?)$/i;
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const ZERO = 48;

/** The number written by the ASCII digits of `text` from `start` (inclusive) to `end`. */
function digits(text: string, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) value = value * 10 + text.charCodeAt(i) - ZERO;
  return value;
}

const isLeapYear = (year: number): boolean => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);

/** Month 1-12 and a day that month has (29 February only in a leap year), read from `YYYY-MM-DD` at index 0. */
function isRealDay(text: string): boolean {
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 7);
  const day = digits(text, 8, 10);
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= (month === 2 && isLeapYear(year) ? 29 : (DAYS_IN_MONTH[month] ?? 0));
}

/** `YYYY-MM-DD`, a real calendar day. */
export function isFullDate(text: string): boolean {
  return FULL_DATE.test(text) && isRealDay(text);
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH[[:]MM])`, `T` or any white space between date and time, either case: a real
 * day, a time of day, an offset of at most 23:59, and second 60 only where it is 23:59:60 in UTC (a leap second).
 */
export function isDateTime(text: string): boolean {
  if (!DATE_TIME.test(text) || !isRealDay(text)) return false;
  const hour = digits(text, 11, 13);
  const minute = digits(text, 14, 16);
  const second = digits(text, 17, 19);
  let at = 19;
  while (at < text.length && text[at] !== "Z" && text[at] !== "z" && text[at] !== "+" && text[at] !== "-") at++;
  let sign = 1;
  let offsetHours = 0;
  let offsetMinutes = 0;
  if (text[at] === "+" || text[at] === "-") {
    sign = text[at] === "-" ? -1 : 1;
    offsetHours = digits(text, at + 1, at + 3);
    const minutesAt = text[at + 3] === ":" ? at + 4 : at + 3;
    if (minutesAt < text.length) offsetMinutes = digits(text, minutesAt, minutesAt + 2);
  }
  if (offsetHours > 23 || offsetMinutes > 59) return false;
  if (hour <= 23 && minute <= 59 && second <= 59) return true;
  // A leap second: 23:59:60 once the offset is taken off.
  const utcMinute = minute - offsetMinutes * sign;
  const utcHour = hour - offsetHours * sign - (utcMinute < 0 ? 1 : 0);
  return (utcHour === 23 || utcHour === -1) && (utcMinute === 59 || utcMinute === -1) && second <= 60;
}
