import { Type, type Static } from "@sinclair/typebox";
import { compileValidator } from "@aa/contracts";
import { ouraRequest, type OuraHttp } from "./http.js";
import type { OuraClientCredentials } from "./oauth.js";

/** A webhook subscription as `/v2/webhook/subscription` returns it (`WebhookSubscriptionModel`). */
export const OuraSubscriptionSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    callback_url: Type.String(),
    event_type: Type.String(),
    data_type: Type.String(),
    expiration_time: Type.String({ format: "date-time" }),
  },
  { additionalProperties: true },
);
export type OuraSubscription = Static<typeof OuraSubscriptionSchema>;

const validateSubscription = compileValidator(OuraSubscriptionSchema);
const validateSubscriptions = compileValidator(Type.Array(OuraSubscriptionSchema));

/** The subscription API authenticates the app, not a user: `x-client-id` / `x-client-secret`. */
const clientHeaders = (credentials: OuraClientCredentials) => ({
  "x-client-id": credentials.clientId,
  "x-client-secret": credentials.clientSecret,
});

export function listSubscriptions(http: OuraHttp, credentials: OuraClientCredentials): Promise<OuraSubscription[]> {
  return ouraRequest(http, {
    method: "GET",
    url: "/v2/webhook/subscription",
    headers: clientHeaders(credentials),
    validate: validateSubscriptions,
    what: "GET /v2/webhook/subscription",
  });
}

export interface NewSubscription {
  callbackUrl: string;
  /** Oura echoes it in the GET handshake to the callback (OURA_VERIFICATION_TOKEN of ingest). */
  verificationToken: string;
  eventType: string;
  dataType: string;
}

/** Oura verifies the callback (GET handshake) before it answers. */
export function createSubscription(
  http: OuraHttp,
  credentials: OuraClientCredentials,
  request: NewSubscription,
): Promise<OuraSubscription> {
  const json = {
    callback_url: request.callbackUrl,
    verification_token: request.verificationToken,
    event_type: request.eventType,
    data_type: request.dataType,
  };
  return ouraRequest(http, {
    method: "POST",
    url: "/v2/webhook/subscription",
    headers: clientHeaders(credentials),
    json,
    validate: validateSubscription,
    what: "POST /v2/webhook/subscription",
  });
}

/** Extends a subscription's expiration time; returns it with the new `expiration_time`. */
export function renewSubscription(
  http: OuraHttp,
  credentials: OuraClientCredentials,
  id: string,
): Promise<OuraSubscription> {
  const url = `/v2/webhook/subscription/renew/${encodeURIComponent(id)}`;
  return ouraRequest(http, {
    method: "PUT",
    url,
    headers: clientHeaders(credentials),
    validate: validateSubscription,
    what: "PUT /v2/webhook/subscription/renew/{id}",
  });
}

/** The earliest `expiration_time` of the subscriptions, or undefined when there are none. */
export function nearestExpiry(subscriptions: readonly OuraSubscription[]): Date | undefined {
  const times = subscriptions.map((s) => Date.parse(s.expiration_time));
  return times.length === 0 ? undefined : new Date(Math.min(...times));
}
