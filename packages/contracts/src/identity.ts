import { createHash } from "node:crypto";
import type { ReadingKind } from "./reading-kinds.js";

/** The sources `EventSource` names that are not a credential's. */
export const EventSources = {
  /** INGEST_AUTH_MODE=none: every request is anonymous, so all share one source. */
  anonymous: "anonymous",
  oura: "vendor:oura",
  /**
   * Rows and events from before scoped identity (events without `source`). Only in
   * storage: the replay guard treats it as "any source" so a reading retried across a
   * rolling upgrade (old ingest, then new) is still recognised as the same reading.
   */
  unscoped: "unscoped",
} as const;

/** The source of a reading sent with an API key of `tenant`. */
export const tenantSource = (tenant: string): string => `tenant:${tenant}`;

/**
 * The source of a reading sent with a JWT from `issuer` (its `iss`) for `tenant` (its `tenant` claim, else `sub`):
 * apart from API-key tenants, and from every other issuer's tenants.
 */
export const jwtSource = (issuer: string, tenant: string): string => `jwt:${issuer}#${tenant}`;

/** What identifies a reading: a retry has all four equal; any other difference makes it another reading. */
export interface ReadingIdentity {
  kind: ReadingKind;
  source: string;
  userId: string;
  /** The client's own id (or ingest's UUID), as the client sees it in replies and rows. */
  eventId: string;
}

/**
 * The reading's key: its `Nats-Msg-Id`, the DLQ correlation key and the basis of the
 * announcement's id. A digest, not the fields: message ids show up in logs, spans and
 * `nats stream view`, and must carry no user id. JSON framing keeps fields from running
 * into each other (`a:b` + `c` is not `a` + `b:c`).
 */
export function readingKey(identity: ReadingIdentity): string {
  const fields = JSON.stringify([identity.source, identity.userId, identity.eventId]);
  return `${identity.kind}:${createHash("sha256").update(fields, "utf8").digest("base64url")}`;
}
