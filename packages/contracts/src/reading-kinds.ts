import { Type, type Static } from "@sinclair/typebox";
import { readingKind } from "./reading-kind.js";

/** Root mean square of successive differences, in milliseconds: (0, 1000]. */
const Rmssd = Type.Number({ exclusiveMinimum: 0, maximum: 1000 });
/** Time asleep in minutes, fractions kept: [0, 1440] (at most a whole day). */
export const SleepDurationMinutes = Type.Number({ minimum: 0, maximum: 1440 });
/** Sleep quality score: [0, 100]. */
export const SleepQualityScore = Type.Number({ minimum: 0, maximum: 100 });

/**
 * Every kind of reading: its values as the client sends them, and those normalize stores when it derives more. A new
 * kind is one entry here (and one in normalize's `reading-kinds.ts`); see docs/reading-kinds.md.
 */
export const ReadingKinds = {
  /** One HRV reading a day; normalize adds ln(rmssd). */
  hrv: readingKind("hrv", {
    values: { rmssd: Rmssd },
    stored: { rmssd: Rmssd, lnRmssd: Type.Number() },
  }),
  /** One night's sleep; `qualityScore` is absent from the announcement when the reading had none. */
  sleep: readingKind("sleep", {
    values: { durationMinutes: SleepDurationMinutes, qualityScore: Type.Optional(SleepQualityScore) },
  }),
};

/** The kinds of reading with their own identity space (and table). */
export type ReadingKind = keyof typeof ReadingKinds;

// The first two kinds' schemas and validators by name, as ingest, normalize's Oura mapping, the rehearsal and tests
// import them. A new kind needs no such names: `ReadingKinds.<kind>` and `RawReceivedOf<…>` say it all.
export const {
  readingSchema: HrvReadingSchema,
  rawReceivedSchema: HrvRawReceivedSchema,
  normalizedStoredSchema: HrvNormalizedStoredSchema,
  validateReading: validateHrvReading,
  validateRawReceived: validateHrvRawReceived,
  validateNormalizedStored: validateHrvNormalizedStored,
} = ReadingKinds.hrv;
export type HrvReading = Static<typeof HrvReadingSchema>;
export type HrvRawReceived = Static<typeof HrvRawReceivedSchema>;
export type HrvNormalizedStored = Static<typeof HrvNormalizedStoredSchema>;

export const {
  readingSchema: SleepReadingSchema,
  rawReceivedSchema: SleepRawReceivedSchema,
  normalizedStoredSchema: SleepNormalizedStoredSchema,
  validateReading: validateSleepReading,
  validateRawReceived: validateSleepRawReceived,
  validateNormalizedStored: validateSleepNormalizedStored,
} = ReadingKinds.sleep;
export type SleepReading = Static<typeof SleepReadingSchema>;
export type SleepRawReceived = Static<typeof SleepRawReceivedSchema>;
export type SleepNormalizedStored = Static<typeof SleepNormalizedStoredSchema>;
