import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

export interface LoggerOptions {
  service: string;
  /** pino level; default `info`. */
  level?: string;
  /** `json` (default, for log shippers) or `pretty` (one readable line per record). */
  format?: "json" | "pretty";
}

/** One logger per process; libraries receive it (or a child) as an argument. */
export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level ?? "info", base: { service: options.service } };
  if (options.format === "pretty") {
    return pino(base, pretty({ sync: true, colorize: false, ignore: "pid,hostname,service", translateTime: "SYS:HH:MM:ss.l" }));
  }
  return pino(base);
}
