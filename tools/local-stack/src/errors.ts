/** A failure with a message meant for the person at the terminal: start-local prints it without a stack. */
export class SetupError extends Error {}

/** No usable PostgreSQL binaries, or no way to run them here. */
export class PostgresSetupError extends SetupError {}
