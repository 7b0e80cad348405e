// How much heap ingest lets requests hold, what one request is expected to hold, and the reservations that keep the
// sum under the budget. Plain numbers only: the Fastify wiring (heap-admission.ts) feeds it sizes and GC samples.

const MiB = 1024 * 1024;

/**
 * Kept free under V8's old-space limit when the young generation's size is unknown (no `--max-old-space-size`): two
 * 16 MiB semi-spaces, see `heapCap`.
 */
export const DEFAULT_YOUNG_GENERATION_ALLOWANCE_BYTES = 32 * MiB;

/**
 * Heap per body byte while a request is parsed and held: the body string (1 byte per byte) plus the parsed tree,
 * measured at 1.0x the body for string-heavy readings, 2.1x for number arrays and 2.8x for arrays of small objects
 * in `raw`.
 */
export const HEAP_BYTES_PER_BODY_BYTE = 4;

/**
 * Heap per reading while its publish awaits the PubAck (event, publish request, payload headers, promises, result):
 * measured at 4.1 KiB for 1,000-reading batches.
 */
export const HEAP_BYTES_PER_READING = 6 * 1024;

/** The shortest valid reading in a batch: `{"userId":"u","date":"2025-10-02","rmssd":1},` is 45 bytes. */
export const MIN_READING_BODY_BYTES = 45;

/**
 * The V8 `--max-old-space-size` (MiB) this process runs with: the command line's over NODE_OPTIONS' (as Node applies
 * them), the last of each; undefined when neither sets it.
 */
export function maxOldSpaceMiB(execArgv: readonly string[], nodeOptions: string | undefined): number | undefined {
  return lastOldSpaceFlag(execArgv) ?? lastOldSpaceFlag((nodeOptions ?? "").split(/\s+/));
}

const OLD_SPACE_FLAG = /^--max[-_]old[-_]space[-_]size=(\d+)$/;

function lastOldSpaceFlag(args: readonly string[]): number | undefined {
  let mib: number | undefined;
  for (const arg of args) {
    const match = OLD_SPACE_FLAG.exec(arg);
    if (match) mib = Number(match[1]);
  }
  return mib;
}

export interface HeapLimits {
  /** `process.execArgv`. */
  execArgv: readonly string[];
  /** `NODE_OPTIONS`. */
  nodeOptions: string | undefined;
  /** `v8.getHeapStatistics().heap_size_limit`, used when no flag sets the old space. */
  heapSizeLimitBytes: number;
}

/** The heap requests may grow into, and what was kept back from the old space for the young generation. */
export interface HeapCap {
  capBytes: number;
  youngAllowanceBytes: number;
}

/**
 * The old space less two semi-spaces: a scavenge promotes up to one semi-space into old space at once, and the used
 * heap the budget is compared with counts new space too. With the flag, V8's `heap_size_limit` is the old space plus
 * the young generation at its largest, three semi-spaces: 48 MiB with 16 MiB semi-spaces (Node 20's default, and what
 * the deployments pin with `--max-semi-space-size=16`), 96 MiB with Node 26's 32 MiB ones. Without the flag the limit
 * stands in for the old space and two 16 MiB semi-spaces are assumed, so the cap is looser: deployments set the flag.
 * `capBytes` is zero or less when the old space is too small to leave any.
 */
export function heapCap(limits: HeapLimits): HeapCap {
  const mib = maxOldSpaceMiB(limits.execArgv, limits.nodeOptions);
  if (mib === undefined) {
    const youngAllowanceBytes = DEFAULT_YOUNG_GENERATION_ALLOWANCE_BYTES;
    return { capBytes: limits.heapSizeLimitBytes - youngAllowanceBytes, youngAllowanceBytes };
  }
  const oldSpaceBytes = mib * MiB;
  const youngGenerationBytes = Math.max(0, limits.heapSizeLimitBytes - oldSpaceBytes);
  const youngAllowanceBytes = Math.round((youngGenerationBytes * 2) / 3);
  return { capBytes: oldSpaceBytes - youngAllowanceBytes, youngAllowanceBytes };
}

/** `percent` (SHED_HEAP_PERCENT) of the cap, in whole bytes. */
export const heapBudgetBytes = (capBytes: number, percent: number): number => Math.floor((capBytes * percent) / 100);

/**
 * What a request is expected to hold at its peak, from its body size: the body and its parsed form, and each reading
 * it can carry (`maxReadings` on its route, fewer when the body is too short for that many).
 */
export function requestCostBytes(bodyBytes: number, maxReadings: number): number {
  const readings = Math.min(maxReadings, Math.ceil(bodyBytes / MIN_READING_BODY_BYTES));
  return HEAP_BYTES_PER_BODY_BYTE * bodyBytes + HEAP_BYTES_PER_READING * readings;
}

export interface HeapBudgetOptions {
  /** Heap the process may use with every admitted request at its peak, in bytes (heapBudgetBytes). */
  budgetBytes: number;
  /** The heap used now, in bytes: the floor until the first full collection with no request in flight. */
  usedBytes: number;
  /** Called with the reserved total after each change (for the gauge). */
  onChange?: (reservedBytes: number) => void;
}

/**
 * Admits requests while the heap the process holds without them (the floor), plus what every admitted request may
 * hold (its reservation), stays within the budget. A reservation, not a heap sample, counts a request in flight: a
 * sample taken while it is in flight already holds it, and adding both sheds at half the load. The live heap after
 * the latest full collection is the check on the estimates: past the budget, nothing more is admitted until a
 * collection finds less.
 */
export class HeapBudget {
  readonly budgetBytes: number;
  #floorBytes: number;
  #liveBytes: number;
  #reservedBytes = 0;
  readonly #onChange: ((reservedBytes: number) => void) | undefined;

  constructor(options: HeapBudgetOptions) {
    this.budgetBytes = options.budgetBytes;
    this.#floorBytes = options.usedBytes;
    this.#liveBytes = options.usedBytes;
    this.#onChange = options.onChange;
  }

  get reservedBytes(): number {
    return this.#reservedBytes;
  }

  get floorBytes(): number {
    return this.#floorBytes;
  }

  /** A reservation of `costBytes`, or undefined: the request would not fit. */
  admit(costBytes: number): HeapReservation | undefined {
    if (!this.#fits(costBytes)) return undefined;
    this.#change(costBytes);
    return new HeapReservation(() => this.#change(-costBytes));
  }

  /**
   * With nothing reserved a request is always admitted: samples are refreshed by collections, which need allocation,
   * so a stale high sample would otherwise shed for good. One request alone stays within the allowance and the
   * (100 - SHED_HEAP_PERCENT)% the budget leaves below the cap.
   */
  #fits(costBytes: number): boolean {
    if (this.#reservedBytes === 0) return true;
    if (this.#liveBytes > this.budgetBytes) return false;
    return this.#floorBytes + this.#reservedBytes + costBytes <= this.budgetBytes;
  }

  /** The heap used just after a full collection: the live heap, and the floor when no request was in flight. */
  observeCollection(usedBytes: number): void {
    this.#liveBytes = usedBytes;
    if (this.#reservedBytes === 0) this.#floorBytes = usedBytes;
  }

  #change(deltaBytes: number): void {
    this.#reservedBytes += deltaBytes;
    this.#onChange?.(this.#reservedBytes);
  }
}

/**
 * One admitted request's share of the budget. It is returned once both happened: the request was answered (its
 * handler is done with the body and the events) and its connection let go of the response (sent, or the client left).
 * Either order; each signal counts once.
 */
export class HeapReservation {
  #answered = false;
  #closed = false;
  #release: (() => void) | undefined;

  constructor(release: () => void) {
    this.#release = release;
  }

  get released(): boolean {
    return this.#release === undefined;
  }

  answered(): void {
    this.#answered = true;
    this.#settle();
  }

  closed(): void {
    this.#closed = true;
    this.#settle();
  }

  #settle(): void {
    if (!this.#answered || !this.#closed || this.#release === undefined) return;
    const release = this.#release;
    this.#release = undefined;
    release();
  }
}
