import type { LinkTokenOutcome } from "@aa/oura";
import type { OuraAccountStore } from "./accounts.js";
import type { OuraSettings } from "./settings.js";

/** What the Oura link routes (start, callback, the app's confirmation) need: one file both route files import. */
export interface OuraLinkDeps {
  store: OuraAccountStore;
  settings: OuraSettings;
  /** Checks a link token (signature, audience, expiry): who the caller is acting for. */
  verifyLinkToken: (token: string) => Promise<LinkTokenOutcome>;
}
