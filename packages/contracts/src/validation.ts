import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { Static, TSchema } from "@sinclair/typebox";
import { isDateTime, isFullDate } from "./formats.js";

/** One problem with one field, quoted back to the client as-is. */
export interface FieldError {
  /** Dotted path of the field (`rmssd`, `raw.device`), or `(body)` for the whole document. */
  field: string;
  message: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

const ajv = new Ajv({ allErrors: true, strict: true, coerceTypes: false, useDefaults: false });
ajv.addFormat("date", { type: "string", validate: isFullDate });
ajv.addFormat("date-time", { type: "string", validate: isDateTime });

const FORMAT_HINTS: Record<string, string> = {
  date: "must be a real calendar date in YYYY-MM-DD form",
  "date-time": "must be an ISO-8601 timestamp with a time zone offset, e.g. 2025-10-02T08:30:00Z",
};

function fieldOf(error: ErrorObject): string {
  const base = error.instancePath.replace(/^\//, "").replaceAll("/", ".");
  const child =
    error.keyword === "required"
      ? String(error.params.missingProperty)
      : error.keyword === "additionalProperties"
        ? String(error.params.additionalProperty)
        : "";
  const path = [base, child].filter(Boolean).join(".");
  return path === "" ? "(body)" : path;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let current = root;
  for (const key of instancePath.split("/").slice(1)) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function messageOf(error: ErrorObject, root: unknown): string {
  if (error.keyword === "required") return "is required";
  if (error.keyword === "additionalProperties") return "is not a known field";
  const got = JSON.stringify(valueAt(root, error.instancePath));
  const hint = error.keyword === "format" ? FORMAT_HINTS[String(error.params.format)] : undefined;
  return `${hint ?? error.message ?? "is invalid"}, got ${got}`;
}

function toFieldErrors(errors: ErrorObject[] | null | undefined, root: unknown): FieldError[] {
  const seen = new Set<string>();
  const result: FieldError[] = [];
  for (const error of errors ?? []) {
    const item = { field: fieldOf(error), message: messageOf(error, root) };
    const key = `${item.field}:${item.message}`;
    if (!seen.has(key)) result.push(item);
    seen.add(key);
  }
  return result;
}

/** A schema-derived validator: returns the typed value or every field error at once. */
export function compileValidator<S extends TSchema>(schema: S): (value: unknown) => Validation<Static<S>> {
  const check: ValidateFunction = ajv.compile(schema);
  return (value) =>
    check(value) ? { ok: true, value: value as Static<S> } : { ok: false, errors: toFieldErrors(check.errors, value) };
}
