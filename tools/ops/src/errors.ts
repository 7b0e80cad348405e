/**
 * A failure of the ops library said in one line, with a stable code a caller can branch on.
 * `OpsRefusal` marks a request refused before anything was read or changed: the request itself must
 * change (the CLI exits 2 for it, as for a wrong command line).
 */
export class OpsError extends Error {
  constructor(
    message: string,
    readonly code: string = "OPS_FAILED",
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "OpsError";
  }
}

/** Refused before anything changed; the request must change (e.g. a missing key the erasure needs). */
export class OpsRefusal extends OpsError {
  constructor(message: string, code = "OPS_REFUSED") {
    super(message, code);
    this.name = "OpsRefusal";
  }
}
