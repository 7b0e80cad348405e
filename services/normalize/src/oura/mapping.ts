import { createHash } from "node:crypto";
import { EventSources, type HrvRawReceived, type OuraWebhookReceived, type SleepRawReceived } from "@aa/contracts";
import type { OuraSleepDocument } from "@aa/oura";

/** The events one Oura sleep document becomes. Pure: no HTTP, no NATS, no database. */
export interface OuraSleepEvents {
  sleep?: SleepRawReceived;
  hrv?: HrvRawReceived;
}

/** Only the night's main sleep: `sleep_data` holds one Oura row per user and day, a nap must not replace it. */
const MAPPED_SLEEP_TYPES: ReadonlySet<string> = new Set(["long_sleep"]);

/** An id token for the Oura object: the id itself when it is short and plain, else a digest of it. */
function objectToken(objectId: string): string {
  return /^[A-Za-z0-9._-]{1,64}$/.test(objectId)
    ? objectId
    : createHash("sha256").update(objectId, "utf8").digest("hex").slice(0, 40);
}

/**
 * `oura:<kind>:<object>:<version>`: deterministic, so a redelivered notification (or a
 * repeated fetch) yields the same ids and is stored once; the version is the notification's
 * `event_time` in UTC ISO form, so a later change of the document sorts after an earlier one.
 */
export function ouraEventId(kind: "sleep" | "hrv", objectId: string, version: string): string {
  return `oura:${kind}:${objectToken(objectId)}:${version}`;
}

/** Is this document mapped at all? (`type` absent counts as the main sleep.) */
export const isMappedSleep = (doc: OuraSleepDocument): boolean =>
  doc.type === undefined || MAPPED_SLEEP_TYPES.has(doc.type);

/** What `raw` holds for an Oura-sourced reading: the source, not the whole document. */
function rawOf(doc: OuraSleepDocument, notification: OuraWebhookReceived): Record<string, unknown> {
  return {
    vendor: "oura",
    data_type: "sleep",
    document_id: doc.id,
    type: doc.type ?? null,
    bedtime_start: doc.bedtime_start,
    bedtime_end: doc.bedtime_end,
    event_time: notification.eventTime,
    notification_id: notification.notificationId,
  };
}

/**
 * Maps a sleep document to a sleep event (`total_sleep_duration` seconds → minutes, `score`
 * when present) and its `average_hrv` to an HRV event. Either is absent when the document
 * has no value for it. `capturedAt` is the notification's `event_time` (when Oura recorded
 * this version): the replay guard then lets a later version of the document win.
 */
export function ouraSleepEvents(
  doc: OuraSleepDocument,
  userId: string,
  notification: OuraWebhookReceived,
): OuraSleepEvents {
  if (!isMappedSleep(doc)) return {};
  const version = new Date(notification.eventTime).toISOString();
  // Source `vendor:oura`: these ids can never be taken by a client's eventId (see readingKey).
  const common = {
    userId,
    date: doc.day,
    capturedAt: version,
    receivedAt: notification.receivedAt,
    source: EventSources.oura,
    raw: rawOf(doc, notification),
  };
  const events: OuraSleepEvents = {};
  if (typeof doc.total_sleep_duration === "number") {
    const score = typeof doc.score === "number" ? { qualityScore: doc.score } : {};
    events.sleep = {
      ...common,
      eventId: ouraEventId("sleep", doc.id, version),
      durationMinutes: doc.total_sleep_duration / 60,
      ...score,
    };
  }
  if (typeof doc.average_hrv === "number" && doc.average_hrv > 0) {
    events.hrv = { ...common, eventId: ouraEventId("hrv", doc.id, version), rmssd: doc.average_hrv };
  }
  return events;
}
