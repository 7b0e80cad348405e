import { listSubscriptions, nearestExpiry } from "@aa/oura";
import type { Logger } from "@aa/service-kit";
import { Gauge, type Registry } from "prom-client";
import type { OuraSettings } from "./settings.js";

export interface SubscriptionGauge {
  /** Lists the subscriptions now; never throws (a failure is logged, the last known expiry kept). */
  refresh(): Promise<void>;
  stop(): void;
}

/**
 * `oura_webhook_subscription_expiry_seconds`: seconds from now to the nearest expiration
 * of the app's Oura webhook subscriptions (negative once one has expired), computed at
 * scrape time from the last listing; absent while no subscription is known. Renew with
 * `aa-ops oura subscriptions renew` before it reaches zero.
 */
export function startSubscriptionGauge(options: {
  registry: Registry;
  settings: OuraSettings;
  logger: Logger;
}): SubscriptionGauge {
  let expiry: Date | undefined;
  let failing = false;
  new Gauge({
    name: "oura_webhook_subscription_expiry_seconds",
    help:
      "Seconds until the nearest Oura webhook subscription expires " +
      "(from the last listing, refreshed every OURA_SUBSCRIPTION_CHECK_INTERVAL_MS)",
    registers: [options.registry],
    collect() {
      this.reset();
      if (expiry) this.set((expiry.getTime() - Date.now()) / 1_000);
    },
  });
  const refresh = async () => {
    try {
      expiry = nearestExpiry(await listSubscriptions(options.settings.http, options.settings.credentials));
      if (failing) options.logger.info("[normalize-oura] Oura webhook subscriptions listed again");
      failing = false;
    } catch (error) {
      if (!failing)
        options.logger.warn(
          { err: error },
          "[normalize-oura] Could not list Oura webhook subscriptions; keeping the last known expiry",
        );
      failing = true;
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), options.settings.subscriptionCheckIntervalMs);
  timer.unref();
  return { refresh, stop: () => clearInterval(timer) };
}
