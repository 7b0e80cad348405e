import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { EventPublisher } from "@aa/event-bus";
import { sourceOf } from "../auth/principal.js";
import { acceptReading, readingAnswer, readingPublish, type ReadingRoute } from "../readings/core.js";
import { publishOutcome } from "../readings/publish.js";
import { sendAnswer } from "./answer.js";

/**
 * `POST /ingest/<kind>` (and `/api/v1/ingest/<kind>`): validates, picks the event id, and answers 202 only once
 * JetStream acknowledged the event.
 */
export function readingRoutes<R extends { eventId?: string; userId: string }>(
  route: ReadingRoute<R>,
  publisher: EventPublisher,
  now: () => Date,
  afterPubAck?: () => void,
) {
  return async (app: FastifyInstance): Promise<void> => {
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const decision = acceptReading(route, request.body, request.headers["idempotency-key"], now());
      if (!decision.ok) return sendAnswer(reply, decision.answer);
      const { reading, eventId } = decision;
      const receivedAt = now().toISOString();
      const source = sourceOf(request.principal);
      const outcome = await publishOutcome(publisher, readingPublish(route, reading, eventId, source, receivedAt));
      if (outcome.accepted) {
        afterPubAck?.(); // test-only crash point: stored in the stream, client not yet told
      } else {
        request.log.warn({ err: outcome.error, eventId }, `${route.label} event not accepted: JetStream unavailable`);
      }
      return sendAnswer(reply, readingAnswer(eventId, receivedAt, outcome));
    };
    app.post(`/ingest/${route.kind}`, handler);
    app.post(`/api/v1/ingest/${route.kind}`, handler);
  };
}
