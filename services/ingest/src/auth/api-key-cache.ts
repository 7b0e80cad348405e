import type pg from "pg";
import { findApiKey, loadApiKeys, type StoredApiKey } from "@aa/api-keys";
import type { Logger } from "@aa/service-kit";

export type KeyLookup = { found: StoredApiKey } | { found: undefined } | { unavailable: string };

// Unknown key ids looked up since the last reload; past this many, unknown ids wait for the
// next reload instead of each costing a query (a flood of made-up keys must not load the database).
const MAX_MISSES_PER_RELOAD = 10_000;

/**
 * The API keys in memory, reloaded every `refreshMs`: authentication costs no query on the hot
 * path, a revocation takes effect within `refreshMs`, and a PostgreSQL outage keeps the last
 * loaded keys working. A key created since the last reload is looked up once on first use.
 */
export class ApiKeyCache {
  private keys = new Map<string, StoredApiKey>();
  private misses = new Set<string>();
  private loaded = false;
  private failing = false;
  private reloading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Pick<pg.Pool, "query">,
    private readonly logger: Logger,
    private readonly refreshMs: number,
  ) {}

  /** Loads the keys once (a failure is logged, not thrown: requests then get 503) and starts the reloads. */
  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => void this.reload(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async lookup(keyId: string): Promise<KeyLookup> {
    const cached = this.keys.get(keyId);
    if (cached) return { found: cached };
    if (!this.loaded) {
      await this.reload();
      if (!this.loaded) return { unavailable: "the API key store (PostgreSQL) has not answered since startup" };
      return { found: this.keys.get(keyId) };
    }
    if (this.misses.has(keyId) || this.misses.size >= MAX_MISSES_PER_RELOAD) return { found: undefined };
    try {
      const key = await findApiKey(this.db, keyId);
      if (key) this.keys.set(keyId, key);
      else this.misses.add(keyId);
      return { found: key };
    } catch (error) {
      return { unavailable: `the API key store (PostgreSQL) did not answer: ${(error as Error).message}` };
    }
  }

  private reload(): Promise<void> {
    this.reloading ??= this.loadAll().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async loadAll(): Promise<void> {
    try {
      const keys = await loadApiKeys(this.db);
      this.keys = new Map(keys.map((key) => [key.keyId, key]));
      this.misses = new Set();
      if (this.failing || !this.loaded) this.logger.info(`[ingest] API keys loaded: ${keys.length}`);
      this.loaded = true;
      this.failing = false;
    } catch (error) {
      // Once per outage, not every reload.
      if (!this.failing) this.logger.error({ err: error }, `[ingest] Cannot load API keys from ingest_api_keys; ${this.loaded ? "keeping the keys loaded before" : "API-key requests get 503 until it answers"}. Is the database migrated (npm run migrate) and reachable?`);
      this.failing = true;
    }
  }
}
