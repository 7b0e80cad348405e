import { EventSources, type SleepRawReceived } from "@aa/contracts";

/** The row normalize stores for one night's sleep. Pure: no database, no NATS. */
export interface SleepRow {
  userId: string;
  date: string;
  /** Minutes, fractions kept (the column is double precision). */
  durationMinutes: number;
  qualityScore: number | null;
  /** The reading's capture time, else when ingest received it: orders replays. */
  capturedAt: string;
  /** When ingest received the reading (set by the server): orders readings of different sources. */
  receivedAt: string;
  eventId: string;
  /** Who sent it (`EventSource`); `unscoped` for an event published before scoped identity. */
  source: string;
  raw: Record<string, unknown> | null;
}

export function normalizeSleep(event: SleepRawReceived): SleepRow {
  return {
    userId: event.userId,
    date: event.date,
    durationMinutes: event.durationMinutes,
    qualityScore: event.qualityScore ?? null,
    capturedAt: new Date(event.capturedAt ?? event.receivedAt).toISOString(),
    receivedAt: new Date(event.receivedAt).toISOString(),
    eventId: event.eventId,
    source: event.source ?? EventSources.unscoped,
    raw: event.raw ?? null,
  };
}
