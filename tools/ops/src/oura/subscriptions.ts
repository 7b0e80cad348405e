import {
  createSubscription,
  listSubscriptions,
  renewSubscription,
  type OuraClientCredentials,
  type OuraHttp,
  type OuraSubscription,
} from "@aa/oura";

/** Where the Oura API is and how the app authenticates to it. */
export interface OuraApp {
  http: OuraHttp;
  credentials: OuraClientCredentials;
}

/** What `oura subscriptions create` asks for: one subscription per data type and event type. */
export interface SubscriptionRequest {
  /** ingest's /webhooks/oura as Oura reaches it. */
  callbackUrl: string;
  /** The same value as ingest's OURA_VERIFICATION_TOKEN: Oura's GET handshake echoes it. */
  verificationToken: string;
  dataTypes: readonly string[];
  eventTypes: readonly string[];
}

export async function createSubscriptions(app: OuraApp, request: SubscriptionRequest): Promise<OuraSubscription[]> {
  const created: OuraSubscription[] = [];
  for (const dataType of request.dataTypes) {
    for (const eventType of request.eventTypes) {
      const { callbackUrl, verificationToken } = request;
      created.push(
        await createSubscription(app.http, app.credentials, { callbackUrl, verificationToken, eventType, dataType }),
      );
    }
  }
  return created;
}

/** Which subscriptions to renew: one by id whatever its expiry, or every one expiring by `expiringBy`. */
export type RenewalChoice = { id: string } | { expiringBy: Date };

export async function renewSubscriptions(app: OuraApp, choice: RenewalChoice): Promise<OuraSubscription[]> {
  const due =
    "id" in choice
      ? [choice.id]
      : (await listSubscriptions(app.http, app.credentials))
          .filter((s) => Date.parse(s.expiration_time) <= choice.expiringBy.getTime())
          .map((s) => s.id);
  const renewed: OuraSubscription[] = [];
  for (const subscriptionId of due) renewed.push(await renewSubscription(app.http, app.credentials, subscriptionId));
  return renewed;
}

export const listAppSubscriptions = (app: OuraApp): Promise<OuraSubscription[]> =>
  listSubscriptions(app.http, app.credentials);
