/**
 * A load driver that keeps a ledger: every event id it sent and what the client learned about it.
 * `acked` = some attempt got a 2xx (the promise: stored once or in the DLQ), `rejected` = a 4xx,
 * `unknown` = only 5xx / network errors, even after the bounded retries with the same eventId.
 */
export type Outcome = "acked" | "rejected" | "unknown";

export interface LedgerEntry {
  eventId: string;
  /** `valid` must end in hrv_data; `poison` (published straight to the stream) must end in the DLQ. */
  kind: "valid" | "poison";
  outcome: Outcome;
  /** HTTP status of every attempt, 0 for a network error. */
  statuses: number[];
}

export class Ledger {
  readonly entries = new Map<string, LedgerEntry>();

  record(eventId: string, kind: LedgerEntry["kind"], status: number): LedgerEntry {
    const entry = this.entries.get(eventId) ?? { eventId, kind, outcome: "unknown" as Outcome, statuses: [] };
    entry.statuses.push(status);
    if (status >= 200 && status < 300) entry.outcome = "acked";
    else if (status >= 400 && status < 500 && entry.outcome !== "acked") entry.outcome = "rejected";
    this.entries.set(eventId, entry);
    return entry;
  }

  count(outcome: Outcome, kind: LedgerEntry["kind"] = "valid"): number {
    return [...this.entries.values()].filter((e) => e.outcome === outcome && e.kind === kind).length;
  }

  /** Attempts that were retries of an unknown outcome. */
  retries(): number {
    return [...this.entries.values()].reduce((sum, e) => sum + e.statuses.length - 1, 0);
  }
}

export interface LedgerLoadOptions {
  url: string;
  /** Event ids are `<prefix>-<n>`; one user per event, so no row is stale by design. */
  prefix: string;
  ratePerSecond: number;
  /** New events are sent for at most this long. */
  maxSeconds: number;
  /** At most this many events. */
  maxEvents?: number;
  /** Attempts per event, first included (default 40). */
  maxAttempts?: number;
  /** Delay between attempts of one event, in ms (default 500). */
  retryDelayMs?: number;
  /** Per-attempt timeout in ms (default 15 000). */
  requestTimeoutMs?: number;
}

export interface LedgerLoad {
  ledger: Ledger;
  /** Stops sending new events and waits for every event's attempts to finish. */
  stop(): Promise<Ledger>;
  /** Waits until the time or count bound ends the sending, then for every event's attempts. */
  finish(): Promise<Ledger>;
}

async function attempt(url: string, eventId: string, n: number, timeoutMs: number): Promise<number> {
  try {
    const response = await fetch(`${url}/ingest/hrv`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: eventId, date: "2025-10-02", rmssd: 20 + (n % 80), eventId }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** Sends valid HRV readings at a steady rate; retries unknown outcomes with the same eventId, bounded. */
export function startLedgerLoad(o: LedgerLoadOptions): LedgerLoad {
  const ledger = new Ledger();
  const maxAttempts = o.maxAttempts ?? 40;
  const retryDelayMs = o.retryDelayMs ?? 500;
  const timeoutMs = o.requestTimeoutMs ?? 15_000;
  const inFlight = new Set<Promise<void>>();
  const deadline = Date.now() + o.maxSeconds * 1000;
  let sent = 0;
  const run = async (eventId: string, n: number) => {
    for (let i = 0; i < maxAttempts; i++) {
      const entry = ledger.record(eventId, "valid", await attempt(o.url, eventId, n, timeoutMs));
      if (entry.outcome !== "unknown") return;
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
    }
  };
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((o.ratePerSecond * tickMs) / 1000));
  let ended: () => void = () => {};
  const sending = new Promise<void>((resolve) => (ended = resolve));
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      if (Date.now() > deadline || sent >= (o.maxEvents ?? Infinity)) return (clearInterval(timer), ended());
      const n = ++sent;
      const work = run(`${o.prefix}-${n}`, n).finally(() => inFlight.delete(work));
      inFlight.add(work);
    }
  }, tickMs);
  const stop = async () => {
    clearInterval(timer);
    ended();
    while (inFlight.size > 0) await Promise.all([...inFlight]);
    return ledger;
  };
  return {
    ledger,
    stop,
    async finish() {
      await sending;
      return stop();
    },
  };
}
