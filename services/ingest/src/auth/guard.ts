import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Counter, type Registry } from "prom-client";
import { metricOnce } from "@aa/service-kit";
import { MAX_BATCH_ITEMS, RETRY_AFTER_SECONDS } from "../readings/core.js";
import { retryAfterSeconds, WindowLimiter } from "../limits/window-limiter.js";
import { authenticate, type AuthOutcome, type Authenticators } from "./authenticate.js";
import { anonymousPrincipal, outOfScope, type Principal } from "./principal.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the guard on every `/ingest/*` request before its handler runs. */
    principal: Principal;
  }
}

const REASONS = [
  "unauthenticated",
  "forbidden",
  "rate_limited",
  "overloaded",
  "overloaded_memory",
  "auth_unavailable",
  "auth_throttled",
] as const;
export type RejectionReason = (typeof REASONS)[number];

export type Rejections = (reason: RejectionReason) => void;

/** `ingest_requests_rejected_total{reason}`, every reason at 0 from the start so increase() sees the first. */
export function rejectionCounter(registry: Registry): Rejections {
  const counter = metricOnce(
    registry,
    "ingest_requests_rejected_total",
    () =>
      new Counter({
        name: "ingest_requests_rejected_total",
        help:
          "Requests refused before publishing: unauthenticated (401), forbidden (403), rate_limited (429), " +
          "overloaded (503 load shedding: event-loop lag), overloaded_memory (503 load shedding: heap budget), " +
          "auth_unavailable (503: credentials could not be checked), " +
          "auth_throttled (429: too many failed authentications from the client's address)",
        labelNames: ["reason"] as const,
        registers: [registry],
      }),
  );
  for (const reason of REASONS) counter.inc({ reason }, 0);
  return (reason) => counter.inc({ reason });
}

export interface GuardOptions {
  /** undefined: INGEST_AUTH_MODE=none, every request is anonymous. */
  auth: Authenticators | undefined;
  /** Readings per principal per window (a batch spends one per reading); 0: no rate limit. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  rejected: Rejections;
}

/**
 * Guards the routes registered in `scope` after it: authentication first (onRequest: nothing is
 * read or parsed for a stranger), then the rate limit per authenticated principal (preHandler:
 * a forged key id cannot spend someone else's budget).
 */
export async function guardIngestRoutes(scope: FastifyInstance, options: GuardOptions): Promise<void> {
  const { auth, rejected } = options;
  const logUnavailable = unavailableLogger();
  scope.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    if (!auth) {
      request.principal = anonymousPrincipal(request.ip);
      return;
    }
    const outcome = await authenticate(request, auth);
    if (outcome.ok) {
      request.principal = outcome.principal;
      return;
    }
    rejected(REJECTION_OF[outcome.status]);
    if (outcome.status === 503) logUnavailable(request, outcome.detail ?? outcome.message);
    // Debug only: a stranger hammering the port must not flood the logs; the counter above is the signal.
    request.log.debug(
      { field: outcome.field, reason: outcome.message },
      `[ingest] request refused (${outcome.status})`,
    );
    return sendRefusal(reply, outcome);
  });
  // Authorization: every user id the body writes for must be in the credential's scope.
  // Before the handler, so a refused request publishes nothing, not even its in-scope items.
  scope.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    // Most credentials are not scoped: skip walking a 1,000-item batch for nothing.
    if (request.principal.userIds === undefined) return;
    const claimed = userIdsIn(request.body);
    const refused = new Set(
      outOfScope(
        request.principal,
        claimed.map((c) => c.userId),
      ),
    );
    if (refused.size === 0) return;
    rejected("forbidden");
    request.log.debug(
      { credential: request.principal.id, userIds: [...refused] },
      "[ingest] request refused (403): user ids outside the credential's scope",
    );
    const details = claimed
      .filter((c) => refused.has(c.userId))
      .map((c) => ({
        field: c.field,
        message: `${request.principal.id} may not write data for user ${JSON.stringify(c.userId)}`,
      }));
    return reply.code(403).send({
      error:
        `Forbidden: this credential is scoped to ${request.principal.userIds?.size} user id(s) and may not ` +
        `write data for ${[...refused].map((u) => JSON.stringify(u)).join(", ")}; nothing was accepted`,
      details,
    });
  });
  if (options.rateLimitMax === 0) return;
  const limiter = new WindowLimiter({ max: options.rateLimitMax, windowMs: options.rateLimitWindowMs });
  scope.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    const readings = readingsIn(request.body);
    const taken = limiter.take(request.principal.id, readings);
    if (taken.ok) {
      reply.header("x-ratelimit-limit", limiter.max).header("x-ratelimit-remaining", taken.remaining);
      reply.header("x-ratelimit-reset", retryAfterSeconds(taken.resetMs));
      return;
    }
    rejected("rate_limited");
    const seconds = retryAfterSeconds(taken.retryAfterMs);
    const window = `at most ${limiter.max} requests per ${options.rateLimitWindowMs / 1000} s per credential`;
    const perReading = ", each reading of a batch counting as one";
    const message =
      readings > limiter.max
        ? `${window}${perReading}; this batch of ${readings} can never fit: split it`
        : `${window}${readings > 1 ? `${perReading} (this batch: ${readings})` : ""}; retry in ${seconds} s`;
    reply
      .header("Retry-After", String(seconds))
      .header("x-ratelimit-limit", limiter.max)
      .header("x-ratelimit-remaining", 0);
    const details = [{ field: "(credential)", message }];
    return reply.code(429).send({ error: `Rate limit exceeded: ${message}`, details });
  });
}

const UNAVAILABLE_LOG_INTERVAL_MS = 10_000;

/**
 * Logs why credentials could not be checked (the database or fetch error the client is not shown), at most once per
 * interval: during an outage every request fails the same way, and the counter carries the rate.
 */
function unavailableLogger(): (request: FastifyRequest, detail: string) => void {
  let last = 0;
  let suppressed = 0;
  return (request, detail) => {
    const now = Date.now();
    if (now - last < UNAVAILABLE_LOG_INTERVAL_MS) {
      suppressed += 1;
      return;
    }
    request.log.warn({ detail, suppressed }, "[ingest] request refused (503): credentials could not be checked");
    [last, suppressed] = [now, 0];
  };
}

const REJECTION_OF = {
  401: "unauthenticated",
  429: "auth_throttled",
  503: "auth_unavailable",
} as const satisfies Record<number, RejectionReason>;

function sendRefusal(reply: FastifyReply, outcome: Exclude<AuthOutcome, { ok: true }>) {
  if (outcome.status === 401) reply.header("WWW-Authenticate", 'Bearer realm="ingest"');
  else reply.header("Retry-After", String(outcome.status === 429 ? outcome.retryAfterSeconds : RETRY_AFTER_SECONDS));
  const details = [{ field: outcome.field, message: outcome.message }];
  return reply.code(outcome.status).send({ error: outcome.error, details });
}

/**
 * Units a request spends: one per reading, so a batch of 1,000 costs what 1,000 single requests
 * cost. A body that is not a batch of 1 to 1,000 readings counts once (validation answers it).
 */
function readingsIn(body: unknown): number {
  const items = (body as { items?: unknown } | null)?.items;
  return Array.isArray(items) && items.length > 0 && items.length <= MAX_BATCH_ITEMS ? items.length : 1;
}

/**
 * The user ids a reading (`{userId}`) or batch (`{items: [{userId}, …]}`) body writes for; malformed ones are left to
 * validation.
 */
function userIdsIn(body: unknown): { field: string; userId: string }[] {
  if (body === null || typeof body !== "object") return [];
  const { userId, items } = body as { userId?: unknown; items?: unknown };
  if (typeof userId === "string") return [{ field: "userId", userId }];
  if (!Array.isArray(items)) return [];
  return items.flatMap((item: unknown, index) => {
    const id = (item as { userId?: unknown } | null)?.userId;
    return typeof id === "string" ? [{ field: `items[${index}].userId`, userId: id }] : [];
  });
}
