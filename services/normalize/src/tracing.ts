import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import type pg from "pg";
import type { WriteOutcome } from "./store.js";

const tracer = trace.getTracer("@aa/normalize");

/** A reading table's guarded writes, as `readingStore` makes them. */
export interface ReadingWrites<R> {
  write: (pool: pg.Pool, row: R) => Promise<WriteOutcome>;
  writeBatch: (pool: pg.Pool, rows: readonly R[]) => Promise<Map<string, WriteOutcome>>;
}

/** `error.type` and the SQLSTATE; never the message, which PostgreSQL fills with row values. */
function markFailed(span: Span, error: unknown): void {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  span.setAttribute("error.type", error instanceof Error ? error.name : typeof error);
  if (typeof cause?.code === "string") span.setAttribute("db.response.status_code", cause.code);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

async function inDbSpan<T>(
  table: string,
  rows: number,
  write: () => Promise<T>,
  outcome: (result: T) => Attributes,
): Promise<T> {
  const attributes: Attributes = {
    "db.system.name": "postgresql",
    "db.operation.name": "INSERT",
    "db.collection.name": table,
    ...(rows > 1 ? { "db.operation.batch.size": rows } : {}),
  };
  return tracer.startActiveSpan(`INSERT ${table}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const result = await write();
      span.setAttributes(outcome(result));
      return result;
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * The writes in a CLIENT span each (child of the message's or batch's consumer span): the table,
 * the operation and the outcome, never a value of the row.
 */
export function tracedWrites<R>(table: string, store: ReadingWrites<R>): ReadingWrites<R> {
  return {
    write: (pool, row) =>
      inDbSpan(
        table,
        1,
        () => store.write(pool, row),
        (o) => stale(o === "stale" ? 1 : 0),
      ),
    writeBatch: (pool, rows) =>
      inDbSpan(
        table,
        rows.length,
        () => store.writeBatch(pool, rows),
        (o) => stale(staleCount(o)),
      ),
  };
}

const stale = (count: number): Attributes => ({ "aa.write.stale_count": count });

/** Readings that changed nothing (a newer one is stored): a replay's signature in a trace. */
function staleCount(outcomes: Map<string, WriteOutcome>): number {
  let stale = 0;
  for (const outcome of outcomes.values()) if (outcome === "stale") stale++;
  return stale;
}
