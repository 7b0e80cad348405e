import type pg from "pg";
import { findApiKey, loadApiKeys, type StoredApiKey } from "@aa/api-keys";
import type { Logger } from "@aa/service-kit";

/**
 * `unavailable`: why no answer, in words a client may read (never a database message); `detail`: the underlying
 * error, for the log only.
 */
export type KeyLookup = { found: StoredApiKey } | { found: undefined } | { unavailable: string; detail?: string };

type Queryable = Pick<pg.Pool, "query">;

// Unknown key ids looked up since the last reload, those in flight included; past this many,
// unknown ids wait for the next reload instead of each costing a query (a flood of made-up keys
// must not load the database).
const MAX_MISSES_PER_RELOAD = 10_000;

export interface ApiKeyCacheOptions {
  /** Single-key lookups: a key created since the last reload. */
  lookups: Queryable;
  /** The periodic reload, on a connection of its own: a flood of lookups cannot queue in front of it. */
  reloads: Queryable;
  logger: Logger;
  refreshMs: number;
  /** Lookups running at once; past it a lookup answers `unavailable` (503) at once instead of queueing. */
  maxLookupsInFlight: number;
}

/**
 * The API keys in memory, reloaded every `refreshMs`: authentication costs no query on the hot
 * path, a revocation takes effect within `refreshMs`, and a PostgreSQL outage keeps the last
 * loaded keys working. A key created since the last reload is looked up once on first use:
 * one query per key id however many requests carry it at once.
 */
export class ApiKeyCache {
  private keys = new Map<string, StoredApiKey>();
  private misses = new Set<string>();
  private readonly inFlight = new Map<string, Promise<KeyLookup>>();
  private loaded = false;
  private failing = false;
  private reloading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ApiKeyCacheOptions) {}

  /** Loads the keys once (a failure is logged, not thrown: requests then get 503) and starts the reloads. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.reload(), this.options.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** false until the keys were loaded once: a lookup then waits for that one shared reload. */
  get ready(): boolean {
    return this.loaded;
  }

  /** The answer memory holds, or undefined when it would take a query (callers limit who may cause one). */
  cached(keyId: string): KeyLookup | undefined {
    const cached = this.keys.get(keyId);
    if (cached) return { found: cached };
    if (!this.loaded || this.inFlight.has(keyId)) return undefined;
    const budgetSpent = this.misses.size + this.inFlight.size >= MAX_MISSES_PER_RELOAD;
    return this.misses.has(keyId) || budgetSpent ? { found: undefined } : undefined;
  }

  async lookup(keyId: string): Promise<KeyLookup> {
    const known = this.cached(keyId);
    if (known) return known;
    if (!this.loaded) {
      await this.reload();
      if (!this.loaded) return { unavailable: "the API key store has not answered since startup" };
      return { found: this.keys.get(keyId) };
    }
    const pending = this.inFlight.get(keyId);
    if (pending) return pending;
    if (this.inFlight.size >= this.options.maxLookupsInFlight) {
      const detail = `${this.inFlight.size} API key lookups are already running`;
      return { unavailable: "too many API key lookups are running", detail };
    }
    const lookup = this.find(keyId).finally(() => this.inFlight.delete(keyId));
    this.inFlight.set(keyId, lookup);
    return lookup;
  }

  private async find(keyId: string): Promise<KeyLookup> {
    try {
      const key = await findApiKey(this.options.lookups, keyId);
      if (key) this.keys.set(keyId, key);
      else this.misses.add(keyId);
      return { found: key };
    } catch (error) {
      const detail = `the API key lookup in PostgreSQL failed: ${(error as Error).message}`;
      return { unavailable: "the API key store did not answer", detail };
    }
  }

  private reload(): Promise<void> {
    this.reloading ??= this.loadAll().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async loadAll(): Promise<void> {
    const { logger } = this.options;
    try {
      const keys = await loadApiKeys(this.options.reloads);
      this.keys = new Map(keys.map((key) => [key.keyId, key]));
      this.misses = new Set();
      if (this.failing || !this.loaded) logger.info(`[ingest] API keys loaded: ${keys.length}`);
      this.loaded = true;
      this.failing = false;
    } catch (error) {
      // Once per outage, not every reload.
      if (!this.failing)
        logger.error(
          { err: error },
          `[ingest] Cannot load API keys from ingest_api_keys; ` +
            `${this.loaded ? "keeping the keys loaded before" : "API-key requests get 503 until it answers"}. ` +
            `Is the database migrated (npm run db:migrate) and reachable?`,
        );
      this.failing = true;
    }
  }
}
