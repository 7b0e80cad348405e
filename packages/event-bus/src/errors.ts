/** Base of the event-bus error hierarchy: a stable `code` and an optional `cause`. */
export class EventBusError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Retrying cannot help (bad payload, constraint violation): dead-letter at once. */
export class NonRetryableError extends EventBusError {
  constructor(message: string, options?: ErrorOptions & { reason?: string }) {
    super("AA_ERR_NON_RETRYABLE", message, options);
    this.reason = options?.reason ?? "non_retryable";
  }
  readonly reason: string;
}

/** The payload failed its schema. */
export class SchemaInvalidError extends NonRetryableError {
  constructor(readonly details: { field: string; message: string }[]) {
    super(`schema invalid: ${details.map((d) => `${d.field} ${d.message}`).join("; ")}`, { reason: "schema_invalid" });
  }
}

/** A dependency is unavailable (database down, broker timeout): retry later, never dead-letter early. */
export class TransientError extends EventBusError {
  constructor(message: string, options?: ErrorOptions) {
    super("AA_ERR_TRANSIENT", message, options);
  }
}

/**
 * A dependency asked us to come back later (HTTP 429 with `Retry-After`): redelivered after
 * `delayMs` instead of the computed retry delay. Still counts against max deliver.
 */
export class RetryAfterError extends TransientError {
  constructor(
    message: string,
    readonly delayMs: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** `EVENT_STREAM_MODE` has a value other than single or multi. */
export class StreamModeError extends EventBusError {
  constructor(readonly value: string) {
    super("AA_ERR_STREAM_MODE", `Invalid EVENT_STREAM_MODE=${JSON.stringify(value)}: expected "single" or "multi"`);
  }
}

/** JetStream did not acknowledge a publish within the retry budget. */
export class PublishError extends EventBusError {
  constructor(
    message: string,
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    super("AA_ERR_PUBLISH", message, options);
  }
}

/** No candidate stream holds the durable a consumer must bind to. */
export class ConsumerBindingError extends EventBusError {
  constructor(message: string) {
    super("AA_ERR_CONSUMER_BINDING", message);
  }
}
