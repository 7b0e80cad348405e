import { EventSources, type HrvRawReceived } from "@aa/contracts";

/** The row normalize stores for one HRV reading. Pure: no database, no NATS. */
export interface HrvRow {
  userId: string;
  date: string;
  rmssd: number;
  lnRmssd: number;
  /** The reading's capture time, else when ingest received it: orders replays. */
  capturedAt: string;
  /** When ingest received the reading (set by the server): orders readings of different sources. */
  receivedAt: string;
  eventId: string;
  /** Who sent it (`EventSource`); `unscoped` for an event published before scoped identity. */
  source: string;
  raw: Record<string, unknown> | null;
}

export function normalizeHrv(event: HrvRawReceived): HrvRow {
  return {
    userId: event.userId,
    date: event.date,
    rmssd: event.rmssd,
    // The schema guarantees 0 < rmssd <= 1000, so the log is finite.
    lnRmssd: Math.log(event.rmssd),
    capturedAt: new Date(event.capturedAt ?? event.receivedAt).toISOString(),
    receivedAt: new Date(event.receivedAt).toISOString(),
    eventId: event.eventId,
    source: event.source ?? EventSources.unscoped,
    raw: event.raw ?? null,
  };
}
