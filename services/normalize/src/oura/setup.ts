import type { OuraWebhookReceived } from "@aa/contracts";
import type { DurableConsumer } from "@aa/event-bus";
import { linkTokenVerifier } from "@aa/oura";
import type { Logger } from "@aa/service-kit";
import type pg from "pg";
import type { Registry } from "prom-client";
import { OuraAccountStore } from "./accounts.js";
import { ouraConsumer } from "./consumer.js";
import type { OuraLinkDeps } from "./link.js";
import type { OuraSettings } from "./settings.js";
import { startSubscriptionGauge } from "./subscription-gauge.js";
import { OuraTokenSource } from "./tokens.js";
import type { ConsumerDeps } from "../reading-flow.js";

/** The Oura pieces of normalize, or none of them when Oura is not configured. */
export interface OuraComponents {
  /** For `/auth/oura/*`; undefined answers 503. */
  link: OuraLinkDeps | undefined;
  /** The `normalize-oura` consumer, in a list to spread into main's consumers (empty when disabled). */
  consumers(deps: ConsumerDeps): { label: string; consumer: DurableConsumer<OuraWebhookReceived> }[];
  stop(): void;
}

const DISABLED_LINE =
  "[normalize-oura] Oura disabled: OURA_CLIENT_ID, OURA_CLIENT_SECRET, OURA_TOKEN_ENCRYPTION_KEY " +
  "and OURA_REDIRECT_URI are not set; normalize-oura is not consumed and /auth/oura/* answers 503";

/** Wires the account store, token source, consumer and subscription gauge from the settings. */
export function setUpOura(
  settings: OuraSettings | undefined,
  deps: { pool: pg.Pool; registry: Registry; logger: Logger },
): OuraComponents {
  if (!settings) {
    deps.logger.warn(DISABLED_LINE);
    return { link: undefined, consumers: () => [], stop: () => undefined };
  }
  const store = new OuraAccountStore(deps.pool, settings.encryptionKey);
  const tokens = new OuraTokenSource(store, settings);
  const gauge = startSubscriptionGauge({ registry: deps.registry, settings, logger: deps.logger });
  deps.logger.info(
    `[normalize-oura] Oura enabled: API ${settings.http.baseUrl}, linking at /auth/oura/link (link token required)`,
  );
  return {
    link: { store, settings, verifyLinkToken: linkTokenVerifier(settings.linkTokenSecret) },
    consumers: (consumerDeps) => [{ label: "Oura", consumer: ouraConsumer(consumerDeps, { store, tokens, settings }) }],
    stop: () => gauge.stop(),
  };
}
