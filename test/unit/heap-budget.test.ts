import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  HEAP_BYTES_PER_BODY_BYTE,
  HEAP_BYTES_PER_READING,
  HeapBudget,
  heapBudgetBytes,
  heapCap,
  maxOldSpaceMiB,
  requestCostBytes,
} from "../../services/ingest/src/limits/heap-budget.js";

const MiB = 1024 * 1024;

describe("heap cap from V8's flags", () => {
  test("--max-old-space-size: dashes or underscores, the last one wins, the command line over NODE_OPTIONS", () => {
    assert.equal(maxOldSpaceMiB(["--max-old-space-size=96"], undefined), 96);
    assert.equal(maxOldSpaceMiB(["--max_old_space_size=128"], undefined), 128);
    assert.equal(maxOldSpaceMiB(["--max-old-space-size=96", "--max-old-space-size=64"], undefined), 64);
    assert.equal(maxOldSpaceMiB([], "--enable-source-maps  --max-old-space-size=160"), 160);
    assert.equal(maxOldSpaceMiB(["--max-old-space-size=96"], "--max-old-space-size=160"), 96);
    assert.equal(maxOldSpaceMiB(["--inspect"], "--max-old-space-size=96 --max-old-space-size=64"), 64);
  });

  test("no flag (or only look-alikes): undefined", () => {
    assert.equal(maxOldSpaceMiB([], undefined), undefined);
    assert.equal(maxOldSpaceMiB(["--max-semi-space-size=16"], ""), undefined);
    assert.equal(maxOldSpaceMiB(["--max-old-space-size-percentage=50"], "--max-old-space-size"), undefined);
  });

  test("the cap is the old space less two of the three semi-spaces V8's heap_size_limit adds to it", () => {
    // --max-old-space-size=96 with 16 MiB semi-spaces: heap_size_limit 144 MiB.
    const limits = { execArgv: ["--max-old-space-size=96"], nodeOptions: undefined, heapSizeLimitBytes: 144 * MiB };
    assert.deepEqual(heapCap(limits), { capBytes: 64 * MiB, youngAllowanceBytes: 32 * MiB });
    // Node 26's default 32 MiB semi-spaces: heap_size_limit 192 MiB, 64 MiB kept back.
    assert.deepEqual(heapCap({ ...limits, heapSizeLimitBytes: 192 * MiB }), {
      capBytes: 32 * MiB,
      youngAllowanceBytes: 64 * MiB,
    });
    assert.equal(
      heapCap({ ...limits, execArgv: ["--max-old-space-size=32"], heapSizeLimitBytes: 80 * MiB }).capBytes,
      0,
    );
  });

  test("without the flag V8's heap_size_limit stands in for the old space, less two 16 MiB semi-spaces", () => {
    const limits = { execArgv: [], nodeOptions: undefined, heapSizeLimitBytes: 144 * MiB };
    assert.deepEqual(heapCap(limits), { capBytes: 112 * MiB, youngAllowanceBytes: 32 * MiB });
  });

  test("the budget is SHED_HEAP_PERCENT of the cap, in whole bytes", () => {
    assert.equal(heapBudgetBytes(128 * MiB, 85), Math.floor(128 * MiB * 0.85));
    assert.equal(heapBudgetBytes(64 * MiB, 100), 64 * MiB);
    assert.equal(heapBudgetBytes(101, 50), 50);
  });
});

describe("a request's estimated heap", () => {
  test("4 bytes per body byte plus 6 KiB per reading the body can hold", () => {
    const twoMiB = 2 * MiB;
    assert.equal(requestCostBytes(twoMiB, 1_000), HEAP_BYTES_PER_BODY_BYTE * twoMiB + HEAP_BYTES_PER_READING * 1_000);
    assert.equal(requestCostBytes(twoMiB, 1_000), 8 * MiB + 6_000 * 1024);
    assert.equal(requestCostBytes(150, 1), 600 + 6 * 1024, "a single reading");
  });

  test("a short batch body holds fewer readings than its route allows: at most one per 45 bytes", () => {
    assert.equal(requestCostBytes(450, 1_000), 4 * 450 + 10 * 6 * 1024);
    assert.equal(requestCostBytes(451, 1_000), 4 * 451 + 11 * 6 * 1024);
    assert.equal(requestCostBytes(0, 1_000), 0, "no body");
  });
});

describe("heap budget", () => {
  const budget = (options: { floor?: number; onChange?: (bytes: number) => void } = {}) =>
    new HeapBudget({ budgetBytes: 100, usedBytes: options.floor ?? 20, onChange: options.onChange });

  test("admits while floor + reserved + cost fits; a refusal reserves nothing", () => {
    const totals: number[] = [];
    const heap = budget({ onChange: (bytes) => totals.push(bytes) });
    const first = heap.admit(50);
    assert.ok(first);
    assert.ok(heap.admit(30), "20 + 50 + 30 = 100 fits");
    assert.equal(heap.admit(1), undefined, "101 does not");
    assert.equal(heap.reservedBytes, 80);
    assert.deepEqual(totals, [50, 80]);
  });

  test("with nothing reserved a request is admitted whatever the samples say, so shedding cannot last forever", () => {
    const heap = budget({ floor: 95 });
    heap.observeCollection(150);
    const alone = heap.admit(40);
    assert.ok(alone, "nothing in flight: admitted");
    assert.equal(heap.admit(1), undefined, "the next one waits for a collection that finds less");
  });

  test("a live heap past the budget after a full collection sheds until a collection finds less", () => {
    const heap = budget();
    const held = heap.admit(10)!;
    heap.observeCollection(101);
    assert.equal(heap.admit(1), undefined, "the estimates missed something: 101 > 100 live");
    heap.observeCollection(60);
    assert.ok(heap.admit(1));
    assert.equal(heap.floorBytes, 20, "collections during requests do not move the floor");
    held.answered();
    held.closed();
  });

  test("the floor is the heap of a full collection with no request in flight", () => {
    const heap = budget({ floor: 30 });
    heap.observeCollection(12);
    assert.equal(heap.floorBytes, 12);
    const r = heap.admit(80)!;
    heap.observeCollection(70);
    assert.equal(heap.floorBytes, 12);
    r.answered();
    r.closed();
    heap.observeCollection(14);
    assert.equal(heap.floorBytes, 14);
  });
});

describe("reservation release", () => {
  test("returned once the request is answered and its response closed, in either order", () => {
    const heap = new HeapBudget({ budgetBytes: 100, usedBytes: 0 });
    const a = heap.admit(10)!;
    const b = heap.admit(20)!;
    a.answered();
    assert.equal(heap.reservedBytes, 30, "answered, still being sent");
    a.closed();
    assert.equal(heap.reservedBytes, 20);
    b.closed();
    assert.equal(heap.reservedBytes, 20, "the client left; the handler still holds its events");
    b.answered();
    assert.equal(heap.reservedBytes, 0);
    assert.ok(a.released && b.released);
  });

  test("repeated signals return nothing twice", () => {
    const heap = new HeapBudget({ budgetBytes: 100, usedBytes: 0 });
    const keep = heap.admit(5)!;
    const r = heap.admit(10)!;
    for (let i = 0; i < 3; i++) {
      r.answered();
      r.closed();
    }
    assert.equal(heap.reservedBytes, 5);
    assert.equal(keep.released, false);
  });

  test("many admitted and released in any interleaving leave nothing reserved", () => {
    const heap = new HeapBudget({ budgetBytes: 1_000_000, usedBytes: 0 });
    const open = Array.from({ length: 200 }, (_, i) => heap.admit(1 + (i % 7))!);
    for (const [i, r] of open.entries()) {
      if (i % 2 === 0) r.closed();
      else r.answered();
    }
    assert.ok(heap.reservedBytes > 0, "one signal each: all still held");
    for (let i = open.length - 1; i >= 0; i--) {
      if (i % 2 === 0) open[i]!.answered();
      else open[i]!.closed();
    }
    assert.equal(heap.reservedBytes, 0);
  });
});
