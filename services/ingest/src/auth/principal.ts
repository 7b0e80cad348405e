import { EventSources } from "@aa/contracts";

/** Who sent a request, as authentication established it. */
export interface Principal {
  kind: "api-key" | "jwt" | "none";
  /**
   * Stable and not secret: `key:<key id>`, `jwt:<iss>#<sub>`, or `ip:<address>` without authentication. Rate limits
   * count per id.
   */
  id: string;
  /** The tenant or service the credential belongs to. */
  tenant: string;
  /** The only user ids it may write for; undefined: any user. */
  userIds: ReadonlySet<string> | undefined;
  /** The source part of its readings' identity (`tenantSource`, `jwtSource`, or `anonymous`). */
  source: string;
}

/** The user ids among `userIds` this principal may not write for (empty: all allowed). */
export function outOfScope(principal: Principal, userIds: readonly string[]): string[] {
  const allowed = principal.userIds;
  if (allowed === undefined) return [];
  return [...new Set(userIds.filter((id) => !allowed.has(id)))];
}

/** The source part of a reading's identity: decided when the credential was checked. */
export function sourceOf(principal: Principal): string {
  return principal.source;
}

/** Every request when INGEST_AUTH_MODE=none: one anonymous source, rate limited per address. */
export const anonymousPrincipal = (address: string): Principal => ({
  kind: "none",
  id: `ip:${address}`,
  tenant: "anonymous",
  userIds: undefined,
  source: EventSources.anonymous,
});
