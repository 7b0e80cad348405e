import { readingStore } from "./store.js";
import { tracedWrites } from "./tracing.js";
import type { HrvRow } from "./hrv.js";

const hrvData = tracedWrites(
  "hrv_data",
  readingStore<HrvRow>({
    name: "hrv_data",
    columns: [
      { name: "rmssd", type: "float8" },
      { name: "ln_rmssd", type: "float8" },
    ],
    values: (row) => [
      row.userId,
      row.date,
      row.rmssd,
      row.lnRmssd,
      row.capturedAt,
      row.receivedAt,
      row.eventId,
      row.source,
      row.raw,
    ],
  }),
);

/** Writes one HRV reading into `hrv_data`. */
export const writeHrv = hrvData.write;
/** Writes many HRV readings in one statement. */
export const writeHrvBatch = hrvData.writeBatch;
