import { readingStore } from "./store.js";
import { tracedWrites } from "./tracing.js";
import type { SleepRow } from "./sleep.js";

const sleepData = tracedWrites(
  "sleep_data",
  readingStore<SleepRow>({
    name: "sleep_data",
    columns: [
      { name: "duration_minutes", type: "float8" },
      { name: "quality_score", type: "float8" },
    ],
    values: (row) => [
      row.userId,
      row.date,
      row.durationMinutes,
      row.qualityScore,
      row.capturedAt,
      row.receivedAt,
      row.eventId,
      row.source,
      row.raw,
    ],
  }),
);

/** Writes one night's sleep into `sleep_data`. */
export const writeSleep = sleepData.write;
/** Writes many nights in one statement. */
export const writeSleepBatch = sleepData.writeBatch;
