import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { EventId, Subjects, compileValidator, validateHrvRawReceived, validateHrvReading, type HrvRawReceived } from "@aa/contracts";
import { PublishError, type EventPublisher } from "@aa/event-bus";

const validateEventId = compileValidator(EventId);

/** Seconds a client should wait before retrying when JetStream could not take the event. */
const RETRY_AFTER_SECONDS = 5;

type EventIdChoice = { ok: true; eventId: string } | { ok: false; message: string };

/** The event id: the body's `eventId`, else the `Idempotency-Key` header, else a new UUID. */
function chooseEventId(bodyEventId: string | undefined, header: string | string[] | undefined): EventIdChoice {
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined) return { ok: true, eventId: bodyEventId ?? randomUUID() };
  if (!validateEventId(key).ok) return { ok: false, message: `Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(key)}` };
  if (bodyEventId !== undefined && bodyEventId !== key) return { ok: false, message: `Idempotency-Key ${JSON.stringify(key)} differs from body eventId ${JSON.stringify(bodyEventId)}` };
  return { ok: true, eventId: key };
}

export function hrvRoutes(publisher: EventPublisher, now: () => Date) {
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const reading = validateHrvReading(request.body, now());
      if (!reading.ok) return reply.code(400).send({ error: "Invalid HRV reading", details: reading.errors });
      const id = chooseEventId(reading.value.eventId, request.headers["idempotency-key"]);
      if (!id.ok) return reply.code(400).send({ error: "Invalid idempotency key", details: [{ field: "Idempotency-Key", message: id.message }] });

      const event: HrvRawReceived = { ...reading.value, eventId: id.eventId, receivedAt: now().toISOString() };
      try {
        const receipt = await publisher.publish({ subject: Subjects.hrvRawReceived.subject, msgId: id.eventId, event, validate: validateHrvRawReceived });
        return reply.code(202).send({ status: "received", eventId: id.eventId, timestamp: event.receivedAt, ...(receipt.duplicate ? { duplicate: true } : {}) });
      } catch (error) {
        if (!(error instanceof PublishError)) throw error;
        request.log.warn({ err: error, eventId: id.eventId }, "HRV event not accepted: JetStream unavailable");
        return reply
          .code(503)
          .header("Retry-After", String(RETRY_AFTER_SECONDS))
          .send({ error: "Event bus unavailable: the event was not accepted. Retry with the same eventId or Idempotency-Key.", eventId: id.eventId });
      }
    };
    app.post("/ingest/hrv", handler);
    app.post("/api/v1/ingest/hrv", handler);
  };
}
