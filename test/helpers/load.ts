/** One request's outcome as the load driver saw it. */
export interface LoadResult {
  eventId: string;
  status: number;
  ms: number;
}

export interface LoadDriver {
  results: LoadResult[];
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<LoadResult[]>;
}

/**
 * Posts HRV readings at a steady rate, each with a unique event id (one row per event:
 * userId = eventId), bounded in time. Network errors count as status 0.
 */
export function startLoad(options: {
  url: string;
  ratePerSecond: number;
  prefix: string;
  maxSeconds: number;
}): LoadDriver {
  const results: LoadResult[] = [];
  const inFlight = new Set<Promise<void>>();
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((options.ratePerSecond * tickMs) / 1000));
  let sent = 0;
  const send = () => {
    const eventId = `${options.prefix}-${++sent}`;
    const started = performance.now();
    const request = fetch(`${options.url}/ingest/hrv`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: eventId, date: "2025-10-02", rmssd: 50 + (sent % 40), eventId }),
    })
      .then(async (response) => {
        await response.arrayBuffer();
        results.push({ eventId, status: response.status, ms: performance.now() - started });
      })
      .catch(() => {
        results.push({ eventId, status: 0, ms: performance.now() - started });
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) send();
  }, tickMs);
  const deadline = setTimeout(() => clearInterval(timer), options.maxSeconds * 1000);
  return {
    results,
    async stop() {
      clearInterval(timer);
      clearTimeout(deadline);
      while (inFlight.size > 0) await Promise.all([...inFlight]);
      return results;
    },
  };
}
