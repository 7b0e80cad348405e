import { StreamModeError } from "./errors.js";

/** Which JetStream topology the services run against. */
export const StreamModes = { single: "single", multi: "multi" } as const;
export type StreamMode = (typeof StreamModes)[keyof typeof StreamModes];

export const DEFAULT_STREAM_MODE: StreamMode = "multi";

/** Parses `EVENT_STREAM_MODE` (trimmed, case-insensitive); unset means the default. */
export function parseStreamMode(raw: string | undefined): StreamMode {
  if (raw === undefined || raw.trim() === "") return DEFAULT_STREAM_MODE;
  const value = raw.trim().toLowerCase();
  if (value === "single" || value === "multi") return value;
  throw new StreamModeError(raw);
}

/** The runbook's startup line: `[event-bus] Stream mode: multi (EVENT_STREAM_MODE="multi")`. */
export function describeStreamMode(mode: StreamMode, raw: string | undefined): string {
  const source =
    raw === undefined || raw.trim() === ""
      ? "EVENT_STREAM_MODE unset, default"
      : `EVENT_STREAM_MODE=${JSON.stringify(raw)}`;
  return `[event-bus] Stream mode: ${mode} (${source})`;
}
