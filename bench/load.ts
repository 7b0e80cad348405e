import autocannon from "autocannon";

/** One autocannon run: POSTs of generated JSON bodies, bounded by time and by request count. */
export interface LoadSpec {
  url: string;
  path: string;
  seconds: number;
  connections: number;
  maxRequests: number;
  /** Requests per second over all connections; unset: as fast as the server answers. */
  overallRate?: number;
  /** The next request: its JSON body and the ids of the events it carries. */
  next: () => { body: string; ids: string[] };
  /** The ids a response says were accepted. */
  accepted: (status: number, body: string, ids: string[]) => string[];
  /** Sent with every request besides the content type (ingest's credential). */
  headers?: Record<string, string>;
}

export interface LoadOutcome {
  responses: number;
  ok2xx: number;
  non2xx: number;
  /** Connection errors and timeouts: requests without an answer. */
  errors: number;
  statuses: Record<string, number>;
  accepted: string[];
  /** Events of answered requests that were not accepted (rejected or unavailable). */
  refused: string[];
  /** Events in answered requests, accepted or not. */
  answeredEvents: number;
  /** When the first request went out (epoch ms), and how long the run took. */
  startedAt: number;
  seconds: number;
}

interface RequestContext {
  ids?: string[];
}

/**
 * Runs autocannon with a body per request; with one pipelined request per connection, a response's context is its
 * request's.
 */
export async function runLoad(spec: LoadSpec): Promise<LoadOutcome> {
  const accepted: string[] = [];
  const refused: string[] = [];
  let answeredEvents = 0;
  const statuses: Record<string, number> = {};
  const request: autocannon.Request = {
    setupRequest: (req, context) => {
      const { body, ids } = spec.next();
      (context as RequestContext).ids = ids;
      req.body = body;
      return req;
    },
    onResponse: (status, body, context) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      const ids = (context as RequestContext).ids ?? [];
      const ok = spec.accepted(status, body, ids);
      answeredEvents += ids.length;
      accepted.push(...ok);
      if (ok.length < ids.length) refused.push(...without(ids, ok));
    },
  };
  const startedAt = Date.now();
  const result = await autocannon({
    url: `${spec.url}${spec.path}`,
    method: "POST",
    headers: { "content-type": "application/json", ...spec.headers },
    connections: spec.connections,
    pipelining: 1,
    duration: spec.seconds,
    maxOverallRequests: spec.maxRequests,
    timeout: 30,
    requests: [request],
    ...(spec.overallRate === undefined ? {} : { overallRate: spec.overallRate }),
  });
  const responses = Object.values(statuses).reduce((a, b) => a + b, 0);
  return {
    responses,
    ok2xx: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    statuses,
    accepted,
    refused,
    answeredEvents,
    startedAt,
    seconds: (Date.now() - startedAt) / 1000,
  };
}

function without(ids: readonly string[], taken: readonly string[]): string[] {
  const set = new Set(taken);
  return ids.filter((id) => !set.has(id));
}

/**
 * A steady offered rate. autocannon refills every connection's quota at the same instant
 * each second, so one run sends its whole second's requests in a burst; `instances` runs
 * started 1/instances s apart spread the rate over the second instead.
 */
export async function runPaced(spec: LoadSpec & { overallRate: number }, instances: number): Promise<LoadOutcome> {
  const perInstance = spec.overallRate / instances;
  const connections = Math.max(1, Math.floor(spec.connections / instances));
  const runs = Array.from({ length: instances }, async (_, k) => {
    await new Promise((resolve) => setTimeout(resolve, (k * 1000) / instances));
    return runLoad({
      ...spec,
      connections,
      overallRate: perInstance,
      maxRequests: Math.ceil(spec.maxRequests / instances),
    });
  });
  return mergeOutcomes(await Promise.all(runs));
}

function mergeOutcomes(outcomes: LoadOutcome[]): LoadOutcome {
  const statuses: Record<string, number> = {};
  for (const o of outcomes)
    for (const [code, n] of Object.entries(o.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const sum = (key: "responses" | "ok2xx" | "non2xx" | "errors" | "answeredEvents") =>
    outcomes.reduce((a, o) => a + o[key], 0);
  const startedAt = Math.min(...outcomes.map((o) => o.startedAt));
  const endedAt = Math.max(...outcomes.map((o) => o.startedAt + o.seconds * 1000));
  const ids = (key: "accepted" | "refused") => outcomes.flatMap((o) => o[key]);
  return {
    responses: sum("responses"),
    ok2xx: sum("ok2xx"),
    non2xx: sum("non2xx"),
    errors: sum("errors"),
    statuses,
    accepted: ids("accepted"),
    refused: ids("refused"),
    answeredEvents: sum("answeredEvents"),
    startedAt,
    seconds: (endedAt - startedAt) / 1000,
  };
}

/** A single-reading POST answers 2xx only when its one event was accepted. */
export const acceptedSingle = (status: number, _body: string, ids: string[]): string[] =>
  status >= 200 && status < 300 ? ids : [];

interface BatchItemResult {
  index: number;
  status: string;
  eventId?: string;
}

/** A batch answers 202 when every item was received; with 207 or 503 the per-item results say which were. */
export function acceptedBatch(status: number, body: string, ids: string[]): string[] {
  if (status === 202) return ids;
  if (status !== 207 && status !== 503) return [];
  const results = (JSON.parse(body) as { results?: BatchItemResult[] }).results ?? [];
  return results
    .filter((r) => r.status === "received")
    .map((r) => ids[r.index] ?? "")
    .filter((id) => id !== "");
}
