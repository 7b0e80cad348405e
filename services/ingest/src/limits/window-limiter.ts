import { LRUCache } from "lru-cache";

/** Units spent by one key in its current window. */
interface Window {
  startedAt: number;
  used: number;
}

export type Take = { ok: true; remaining: number; resetMs: number } | { ok: false; retryAfterMs: number };

export interface WindowLimiterOptions {
  /** Units per key per window. */
  max: number;
  windowMs: number;
  /** Keys remembered at once; the least recently used is forgotten past it, so memory stays bounded. */
  maxKeys?: number;
  now?: () => number;
}

/**
 * A fixed window per key (it starts at the key's first unit), counting units rather than requests:
 * a batch spends one unit per reading, a failed authentication one unit per attempt. Per process.
 */
export class WindowLimiter {
  private readonly windows: LRUCache<string, Window>;
  private readonly now: () => number;

  constructor(private readonly options: WindowLimiterOptions) {
    this.windows = new LRUCache({ max: options.maxKeys ?? 100_000 });
    this.now = options.now ?? Date.now;
  }

  get max(): number {
    return this.options.max;
  }

  /** Spends `units` if all of them fit in the window; a refusal spends nothing. */
  take(key: string, units = 1): Take {
    const window = this.current(key);
    const resetMs = window.startedAt + this.options.windowMs - this.now();
    if (window.used + units > this.options.max) return { ok: false, retryAfterMs: resetMs };
    window.used += units;
    return { ok: true, remaining: this.options.max - window.used, resetMs };
  }

  /** The ms until `key` may spend again when its window is used up; undefined while units are left. */
  exhausted(key: string): number | undefined {
    const window = this.windows.get(key);
    if (window === undefined || this.expired(window) || window.used < this.options.max) return undefined;
    return window.startedAt + this.options.windowMs - this.now();
  }

  /** Spends one unit whether or not it fits (a failure happened; the count must show it). */
  charge(key: string): void {
    this.current(key).used += 1;
  }

  /** Gives back one unit charged in advance for something that turned out fine. */
  refund(key: string): void {
    const window = this.windows.get(key);
    if (window !== undefined && window.used > 0) window.used -= 1;
  }

  private current(key: string): Window {
    const existing = this.windows.get(key);
    if (existing !== undefined && !this.expired(existing)) return existing;
    const fresh = { startedAt: this.now(), used: 0 };
    this.windows.set(key, fresh);
    return fresh;
  }

  private expired(window: Window): boolean {
    return this.now() >= window.startedAt + this.options.windowMs;
  }
}

/** Whole seconds for Retry-After, at least 1. */
export const retryAfterSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1_000));
