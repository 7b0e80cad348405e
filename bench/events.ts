/**
 * Event ids are `<phase>:<n>` with n counting from 1, and each event has its own user
 * (userId = eventId), so every accepted event must become exactly one new row and the
 * audit can tell which phase, and whether a sent event, a row belongs to.
 */
export class IdSequence {
  /** Ids handed out so far: the highest n of this phase. */
  sent = 0;

  constructor(readonly phase: string) {}

  next(): string {
    return `${this.phase}:${++this.sent}`;
  }
}

// The day the bench started (UTC): still a valid reading date should the run cross midnight.
export const readingDate = new Date().toISOString().slice(0, 10);

/**
 * A valid `POST /ingest/hrv` body as JSON text; `capturedAt` is the send time when given.
 * Written as a template, not JSON.stringify: the load generator shares the CPU with the
 * pipeline, so building a body must cost next to nothing (ids need no escaping).
 */
export function hrvReadingJson(eventId: string, capturedAt?: string): string {
  const rmssd = 20 + (eventId.charCodeAt(eventId.length - 1) % 80);
  const captured = capturedAt === undefined ? "" : `,"capturedAt":"${capturedAt}"`;
  return `{"eventId":"${eventId}","userId":"${eventId}","date":"${readingDate}","rmssd":${rmssd}${captured}}`;
}

/** A valid `athlete-ally.hrv.raw-received` event, as ingest would publish it. */
export function hrvRawEvent(eventId: string): string {
  return `${hrvReadingJson(eventId).slice(0, -1)},"receivedAt":"${new Date().toISOString()}"}`;
}
