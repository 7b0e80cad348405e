import { Type, type Static } from "@sinclair/typebox";
import { EventId, Timestamp } from "./common.js";
import { compileValidator } from "./validation.js";

/** An Oura id (object, user): 1–128 characters, no control or format characters. */
const OuraId = Type.String({ minLength: 1, maxLength: 128, pattern: "^[^\\p{C}]+$" });

/**
 * The body of an Oura webhook `POST` (Oura API v2 webhooks): a notification that an object
 * changed. It carries ids, not data. Oura may add fields, so unknown fields are allowed
 * (and ignored); an unknown `data_type` or `event_type` is accepted here and left to the
 * consumer, so a new Oura data type never makes Oura retry a webhook forever.
 */
export const OuraWebhookNotificationSchema = Type.Object(
  {
    /** `create`, `update` or `delete`. */
    event_type: Type.String({ minLength: 1, maxLength: 32 }),
    /** `sleep`, `daily_sleep`, `workout`, ... */
    data_type: Type.String({ minLength: 1, maxLength: 64 }),
    /** The changed document's id (for `sleep`, the `document_id` of `/v2/usercollection/sleep/{document_id}`). */
    object_id: OuraId,
    /** When Oura recorded the change. */
    event_time: Timestamp,
    /** Oura's user id (`personal_info.id`), not ours. */
    user_id: OuraId,
  },
  { additionalProperties: true },
);
export type OuraWebhookNotification = Static<typeof OuraWebhookNotificationSchema>;

/** `vendor.oura.webhook.received`: a notification whose signature ingest verified. */
export const OuraWebhookReceivedSchema = Type.Object(
  {
    /** Derived from the notification's identifying fields; also its `Nats-Msg-Id`. */
    notificationId: EventId,
    eventType: Type.String({ minLength: 1, maxLength: 32 }),
    dataType: Type.String({ minLength: 1, maxLength: 64 }),
    objectId: OuraId,
    eventTime: Timestamp,
    ouraUserId: OuraId,
    /** When ingest accepted the webhook. */
    receivedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type OuraWebhookReceived = Static<typeof OuraWebhookReceivedSchema>;

export const validateOuraWebhookNotification = compileValidator(OuraWebhookNotificationSchema);
export const validateOuraWebhookReceived = compileValidator(OuraWebhookReceivedSchema);
