import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions } from "pino";

type LogMethod = (...args: unknown[]) => void;

/**
 * `request.log` whose pino child is made on first use. Fastify makes a child per request, and with
 * our redaction each child runs its bindings through the redactor (3 % of ingest's CPU in a profile)
 * for a logger most requests never use. The child, when made, is the one Fastify would have made.
 */
class LazyChildLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get #logger(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.#logger.level;
  }

  set level(level: string) {
    this.#logger.level = level;
  }

  fatal(...args: unknown[]): void {
    (this.#logger.fatal as LogMethod)(...args);
  }

  error(...args: unknown[]): void {
    (this.#logger.error as LogMethod)(...args);
  }

  warn(...args: unknown[]): void {
    (this.#logger.warn as LogMethod)(...args);
  }

  info(...args: unknown[]): void {
    (this.#logger.info as LogMethod)(...args);
  }

  debug(...args: unknown[]): void {
    (this.#logger.debug as LogMethod)(...args);
  }

  trace(...args: unknown[]): void {
    (this.#logger.trace as LogMethod)(...args);
  }

  silent(...args: unknown[]): void {
    (this.#logger.silent as LogMethod)(...args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger.child(bindings, options);
  }
}

/** Fastify `childLoggerFactory`: a request logger that costs nothing until something logs. */
export function lazyChildLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(parent, bindings, options) as unknown as FastifyBaseLogger;
}
