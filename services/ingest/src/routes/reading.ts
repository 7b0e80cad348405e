import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { EventId, compileValidator, readingKey, type ReadingKind, type Validation } from "@aa/contracts";
import { PublishError, type EventPublisher, type PublishRequest } from "@aa/event-bus";
import { sourceOf } from "../auth/principal.js";
import { readingBatchRoutes } from "./reading-batch.js";

const validateEventId = compileValidator(EventId);

/** Seconds a client should wait before retrying when JetStream could not take the event. */
export const RETRY_AFTER_SECONDS = 5;

/** One kind of reading accepted over HTTP and published as `<kind>.raw-received`. */
export interface ReadingRoute<R extends { eventId?: string }> {
  /**
   * The reading's kind: part of its identity, and the path segment `POST /ingest/<kind>` (and `/api/v1/ingest/<kind>`).
   */
  kind: ReadingKind;
  /** In log lines: `HRV`, `Sleep`. */
  label: string;
  /** In the 400 body: `Invalid <noun>`. */
  noun: string;
  subject: string;
  validateReading: (value: unknown, now: Date) => Validation<R>;
  /** Checks the event before it is published. */
  validateEvent: (value: unknown) => Validation<unknown>;
}

/**
 * The publish of one accepted reading. Its `Nats-Msg-Id` is the reading's key (kind, source,
 * user, eventId), so a retry is a duplicate while the same eventId from another tenant, user
 * or kind is another reading; the client keeps seeing its own `eventId`.
 */
export function readingPublish<R extends { userId: string }>(
  route: ReadingRoute<R & { eventId?: string }>,
  reading: R,
  eventId: string,
  request: FastifyRequest,
  receivedAt: string,
): PublishRequest<unknown> {
  const source = sourceOf(request.principal);
  const event = { ...reading, eventId, receivedAt, source };
  return {
    subject: route.subject,
    msgId: readingKey({ kind: route.kind, source, userId: reading.userId, eventId }),
    event,
    validate: route.validateEvent,
  };
}

type EventIdChoice = { ok: true; eventId: string } | { ok: false; message: string };

/** The event id: the body's `eventId`, else the `Idempotency-Key` header, else a new UUID. */
function chooseEventId(bodyEventId: string | undefined, header: string | string[] | undefined): EventIdChoice {
  const key = Array.isArray(header) ? header[0] : header;
  if (key === undefined) return { ok: true, eventId: bodyEventId ?? randomUUID() };
  if (!validateEventId(key).ok)
    return {
      ok: false,
      message: `Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(key)}`,
    };
  if (bodyEventId !== undefined && bodyEventId !== key)
    return {
      ok: false,
      message: `Idempotency-Key ${JSON.stringify(key)} differs from body eventId ${JSON.stringify(bodyEventId)}`,
    };
  return { ok: true, eventId: key };
}

function unavailable(reply: FastifyReply, eventId: string) {
  return reply.code(503).header("Retry-After", String(RETRY_AFTER_SECONDS)).send({
    error: "Event bus unavailable: the event was not accepted. Retry with the same eventId or Idempotency-Key.",
    eventId,
  });
}

/**
 * Validates, picks the event id, and answers 202 only once JetStream acknowledged the event; also registers `/batch`.
 */
export function readingRoutes<R extends { eventId?: string; userId: string }>(
  route: ReadingRoute<R>,
  publisher: EventPublisher,
  now: () => Date,
  batchBodyLimitBytes: number,
  afterPubAck?: () => void,
) {
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const reading = route.validateReading(request.body, now());
      if (!reading.ok) return reply.code(400).send({ error: `Invalid ${route.noun}`, details: reading.errors });
      const id = chooseEventId(reading.value.eventId, request.headers["idempotency-key"]);
      if (!id.ok)
        return reply
          .code(400)
          .send({ error: "Invalid idempotency key", details: [{ field: "Idempotency-Key", message: id.message }] });

      const receivedAt = now().toISOString();
      try {
        const receipt = await publisher.publish(readingPublish(route, reading.value, id.eventId, request, receivedAt));
        afterPubAck?.(); // test-only crash point: stored in the stream, client not yet told
        return reply.code(202).send({
          status: "received",
          eventId: id.eventId,
          timestamp: receivedAt,
          ...(receipt.duplicate ? { duplicate: true } : {}),
        });
      } catch (error) {
        if (!(error instanceof PublishError)) throw error;
        request.log.warn(
          { err: error, eventId: id.eventId },
          `${route.label} event not accepted: JetStream unavailable`,
        );
        return unavailable(reply, id.eventId);
      }
    };
    app.post(`/ingest/${route.kind}`, handler);
    app.post(`/api/v1/ingest/${route.kind}`, handler);
    await app.register(readingBatchRoutes(route, publisher, now, batchBodyLimitBytes));
  };
}
