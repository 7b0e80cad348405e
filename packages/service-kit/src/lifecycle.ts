import type { Logger } from "pino";

/**
 * Runs `stop` once on SIGTERM/SIGINT, then exits 0; a second signal or a stop that
 * takes longer than `graceMs` exits 1 so an orchestrator never waits forever.
 */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>, graceMs = 25_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "Shutting down");
    const timer = setTimeout(() => {
      logger.error({ graceMs }, "Shutdown took too long; exiting");
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "Shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

/** Logs a fatal startup error in one readable line and exits non-zero. */
export function exitOnStartupError(logger: Logger, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  logger.fatal({ err: error }, message);
  process.exit(1);
}
