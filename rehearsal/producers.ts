import { Ledger } from "../test/faults/ledger.js";

/** Where producers post right now: 1.0's ingest (no key) or the new one (with its API key). */
export interface Target {
  url: string;
  apiKey?: string;
}

export interface Producers {
  ledger: Ledger;
  /** Producers follow the runbook: from now on they post here (the Service's endpoints changed). */
  retarget(target: Target): void;
  sent(): number;
  /** Stops sending new readings and waits for the retries of those sent. */
  stop(): Promise<Ledger>;
}

async function post(target: Target, eventId: string, n: number): Promise<number> {
  try {
    const response = await fetch(`${target.url}/ingest/hrv`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(target.apiKey && { authorization: `Bearer ${target.apiKey}` }),
      },
      // One user per reading: every reading is its own row, so "stored once" is a row count.
      body: JSON.stringify({ userId: eventId, date: "2026-12-01", rmssd: 20 + (n % 80), eventId }),
      signal: AbortSignal.timeout(15_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/**
 * Producers posting HRV readings at a bounded rate and count throughout a path; an unknown outcome
 * (5xx, refused connection while a pod restarts) is retried with the same eventId, as a client should.
 */
export function startProducers(first: Target, o: { prefix: string; perSecond: number; maxEvents: number }): Producers {
  const ledger = new Ledger();
  let target = first;
  let sent = 0;
  const inFlight = new Set<Promise<void>>();
  const send = async (eventId: string, n: number) => {
    for (let attempt = 0; attempt < 60; attempt++) {
      if (ledger.record(eventId, "valid", await post(target, eventId, n)).outcome !== "unknown") return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const timer = setInterval(() => {
    if (sent >= o.maxEvents) return clearInterval(timer);
    const n = ++sent;
    const work = send(`${o.prefix}-${n}`, n).finally(() => inFlight.delete(work));
    inFlight.add(work);
  }, 1000 / o.perSecond);
  return {
    ledger,
    retarget: (next) => (target = next),
    sent: () => sent,
    async stop() {
      clearInterval(timer);
      while (inFlight.size > 0) await Promise.all([...inFlight]);
      return ledger;
    },
  };
}
