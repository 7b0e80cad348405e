import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Subjects, validateOuraWebhookReceived } from "@aa/contracts";
import { PublishError, type EventPublisher } from "@aa/event-bus";
import { RETRY_AFTER_SECONDS } from "../readings/core.js";
import {
  constantTimeEqual,
  parseNotification,
  toReceivedEvent,
  verifyOuraSignature,
  type OuraWebhookSettings,
} from "../oura.js";
import { addressKey } from "../limits/client-address.js";
import { retryAfterSeconds, WindowLimiter } from "../limits/window-limiter.js";

/** Counts the client addresses' failed checks (signature, handshake token); undefined: not limited. */
type Failures = WindowLimiter | undefined;

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

function notConfigured(reply: FastifyReply, what: string) {
  return reply.code(503).send({ error: `Oura webhooks are not configured on this ingest: ${what}` });
}

/** `GET /webhooks/oura`: Oura's subscription handshake; echoes `challenge` when `verification_token` matches. */
function handshake(settings: OuraWebhookSettings | undefined, failures: Failures) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!settings) return notConfigured(reply, "set OURA_WEBHOOK_SECRET");
    if (settings.verificationToken === undefined)
      return notConfigured(reply, "set OURA_VERIFICATION_TOKEN to answer the subscription handshake");
    const query = request.query as Record<string, unknown>;
    const token = typeof query.verification_token === "string" ? query.verification_token : "";
    if (!constantTimeEqual(token, settings.verificationToken)) {
      failures?.charge(addressKey(request.ip));
      // Debug: anyone can send this; http_requests_total{route="/webhooks/oura",status_code="401"} is the signal.
      request.log.debug("[ingest] Oura webhook handshake rejected: verification_token does not match");
      return reply.code(401).send({ error: "verification_token does not match" });
    }
    if (typeof query.challenge !== "string" || query.challenge === "")
      return reply.code(400).send({ error: "challenge is required" });
    return reply.code(200).send({ challenge: query.challenge });
  };
}

/**
 * `POST /webhooks/oura`: signature and timestamp first (401, its reason logged at debug only),
 * then the body (400), then the publish; `202` only after the PubAck, `503` otherwise.
 */
function notification(
  settings: OuraWebhookSettings | undefined,
  failures: Failures,
  publisher: EventPublisher,
  now: () => Date,
) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!settings) return notConfigured(reply, "set OURA_WEBHOOK_SECRET");
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const signed = {
      signature: header(request, "x-oura-signature"),
      timestamp: header(request, "x-oura-timestamp"),
      body,
    };
    const check = verifyOuraSignature(signed, settings.secrets, now());
    if (!check.ok) {
      failures?.charge(addressKey(request.ip));
      // Debug, not warn: a stranger's forgeries must not flood the logs (the 401 counter is the signal).
      request.log.debug({ reason: check.reason }, "[ingest] Oura webhook rejected");
      return reply
        .code(401)
        .send({ error: "Invalid Oura webhook signature", reason: check.reason, message: check.message });
    }
    const parsed = parseNotification(body);
    if (!parsed.ok) return reply.code(400).send({ error: "Invalid Oura webhook", details: parsed.errors });

    const event = toReceivedEvent(parsed.value, now());
    try {
      const receipt = await publisher.publish({
        subject: Subjects.ouraWebhookReceived.subject,
        msgId: event.notificationId,
        event,
        validate: validateOuraWebhookReceived,
      });
      return reply.code(202).send({
        status: "received",
        notificationId: event.notificationId,
        ...(receipt.duplicate ? { duplicate: true } : {}),
      });
    } catch (error) {
      if (!(error instanceof PublishError)) throw error;
      request.log.warn(
        { err: error, notificationId: event.notificationId },
        "Oura webhook not accepted: JetStream unavailable",
      );
      return reply
        .code(503)
        .header("Retry-After", String(RETRY_AFTER_SECONDS))
        .send({ error: "Event bus unavailable: the notification was not accepted. Oura will retry it." });
    }
  };
}

/**
 * `/webhooks/oura`. The body is kept as raw bytes (the signature covers them exactly): this
 * plugin's own content-type parser replaces JSON parsing for its routes only.
 * `settings` undefined (no OURA_WEBHOOK_SECRET): both routes answer 503 saying so.
 */
export function ouraWebhookRoutes(
  settings: OuraWebhookSettings | undefined,
  publisher: EventPublisher,
  now: () => Date,
) {
  const limit = settings?.failures;
  const failures = limit && limit.max > 0 ? new WindowLimiter({ max: limit.max, windowMs: limit.windowMs }) : undefined;
  return async (app: FastifyInstance): Promise<void> => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    if (failures) app.addHook("onRequest", refuseFailingAddresses(failures));
    app.get("/webhooks/oura", handshake(settings, failures));
    app.post("/webhooks/oura", notification(settings, failures, publisher, now));
  };
}

/**
 * onRequest, before the body is read: an address whose checks failed OURA_WEBHOOK_FAILURES_MAX
 * times in the window gets 429 until it ends. Only failures count, so Oura's own deliveries,
 * however many, are never limited (a refused notification could be lost).
 */
function refuseFailingAddresses(failures: WindowLimiter) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const waitMs = failures.exhausted(addressKey(request.ip));
    if (waitMs === undefined) return;
    const seconds = retryAfterSeconds(waitMs);
    request.log.debug("[ingest] Oura webhook refused (429): too many failed checks from this address");
    const error =
      `Too many rejected webhooks from this address: at most ${failures.max} failed checks per window; ` +
      `retry in ${seconds} s`;
    return reply.code(429).header("Retry-After", String(seconds)).send({ error });
  };
}
