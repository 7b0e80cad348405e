import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import {
  validateOuraWebhookNotification,
  type OuraWebhookNotification,
  type OuraWebhookReceived,
  type Validation,
} from "@aa/contracts";
import { DUPLICATE_WINDOW_MS } from "@aa/event-bus";
import { MAX_BODY_DEPTH, nestedDeeperThan } from "./depth.js";

/**
 * How far `x-oura-timestamp` may be from our clock, either way, in seconds: half the stream's duplicate window. A
 * captured request replays until its timestamp is this far in the past; the original may have arrived this far
 * before its timestamp (a sender's clock ahead of ours), so a replay is accepted at most twice this after the
 * original was published, and JetStream still drops it then as a duplicate. (It was 300 s against a 120 s window:
 * a replay after two minutes was published again.)
 */
export const TIMESTAMP_TOLERANCE_SECONDS = DUPLICATE_WINDOW_MS / 1000 / 2;

/** What `/webhooks/oura` is configured with. Pure data: no Fastify, no NATS. */
export interface OuraWebhookSettings {
  /** OURA_WEBHOOK_SECRET first, then OURA_WEBHOOK_SECRET_PREVIOUS while a rotation is under way. */
  secrets: readonly string[];
  /** OURA_VERIFICATION_TOKEN: the GET handshake's `verification_token`; undefined answers the handshake 503. */
  verificationToken: string | undefined;
  /** Failed signature checks per client address per window; past them 429 before the body is read. max 0: off. */
  failures: { max: number; windowMs: number };
}

export type SignatureCheck =
  | { ok: true }
  | {
      ok: false;
      reason: "missing_headers" | "timestamp_format" | "timestamp_stale" | "signature_mismatch";
      message: string;
    };

export interface SignedRequest {
  signature: string | undefined;
  timestamp: string | undefined;
  /** The raw body bytes, exactly as received. */
  body: Buffer;
}

const fail = (reason: Exclude<SignatureCheck, { ok: true }>["reason"], message: string): SignatureCheck => ({
  ok: false,
  reason,
  message,
});

/**
 * `x-oura-timestamp` is Unix time in whole seconds (digits only). A millisecond value
 * (13 digits) is rejected with its own message rather than read as a time far in the future.
 */
function checkTimestamp(timestamp: string, now: Date): SignatureCheck {
  if (!/^\d+$/.test(timestamp))
    return fail("timestamp_format", "x-oura-timestamp must be Unix time in whole seconds (digits only)");
  if (timestamp.length > 11)
    return fail(
      "timestamp_format",
      `x-oura-timestamp must be Unix time in seconds; a ${timestamp.length}-digit value looks like milliseconds`,
    );
  const skew = Math.abs(now.getTime() / 1_000 - Number(timestamp));
  if (skew > TIMESTAMP_TOLERANCE_SECONDS)
    return fail(
      "timestamp_stale",
      `x-oura-timestamp is ${Math.round(skew)} s away from our clock ` +
        `(at most ${TIMESTAMP_TOLERANCE_SECONDS} s allowed)`,
    );
  return { ok: true };
}

/** Hex HMAC-SHA256 over the timestamp followed by the raw body. */
export function ouraSignature(secret: string, timestamp: string, body: Buffer): Buffer {
  return createHmac("sha256", secret).update(timestamp, "utf8").update(body).digest();
}

/** Is the signature hex of a 32-byte HMAC, made with one of the secrets? Constant-time per secret. */
function signatureMatches(signatureHex: string, timestamp: string, body: Buffer, secrets: readonly string[]): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(signatureHex)) return false;
  const given = Buffer.from(signatureHex, "hex");
  let matched = false;
  for (const secret of secrets) matched = timingSafeEqual(given, ouraSignature(secret, timestamp, body)) || matched;
  return matched;
}

/** Verifies `x-oura-signature` (hex, any case) and `x-oura-timestamp` (±5 minutes) against every configured secret. */
export function verifyOuraSignature(request: SignedRequest, secrets: readonly string[], now: Date): SignatureCheck {
  const { signature, timestamp, body } = request;
  if (!signature || !timestamp) return fail("missing_headers", "x-oura-signature and x-oura-timestamp are required");
  const fresh = checkTimestamp(timestamp, now);
  if (!fresh.ok) return fresh;
  return signatureMatches(signature, timestamp, body, secrets)
    ? { ok: true }
    : fail("signature_mismatch", "x-oura-signature does not match the body and timestamp");
}

/** Equal strings in constant time (whatever their lengths): compares their SHA-256 digests. */
export function constantTimeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The notification body: JSON, then the schema; every problem reported at once. */
export function parseNotification(body: Buffer): Validation<OuraWebhookNotification> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (error) {
    return { ok: false, errors: [{ field: "(body)", message: `is not valid JSON: ${(error as Error).message}` }] };
  }
  if (nestedDeeperThan(value, MAX_BODY_DEPTH))
    return { ok: false, errors: [{ field: "(body)", message: `nests deeper than ${MAX_BODY_DEPTH} levels` }] };
  return validateOuraWebhookNotification(value);
}

/**
 * The notification's identity: what changed (data type, object, event type), when Oura
 * recorded it, and whose it is. Not the timestamp or signature: Oura re-signs a redelivery
 * with a new timestamp, and it must still be stored once.
 */
export function notificationId(n: OuraWebhookNotification): string {
  const identity = JSON.stringify([n.data_type, n.object_id, n.event_type, n.event_time, n.user_id]);
  return `oura:${createHash("sha256").update(identity, "utf8").digest("hex")}`;
}

/** `vendor.oura.webhook.received` for a verified notification. */
export function toReceivedEvent(n: OuraWebhookNotification, receivedAt: Date): OuraWebhookReceived {
  return {
    notificationId: notificationId(n),
    eventType: n.event_type,
    dataType: n.data_type,
    objectId: n.object_id,
    eventTime: n.event_time,
    ouraUserId: n.user_id,
    receivedAt: receivedAt.toISOString(),
  };
}
