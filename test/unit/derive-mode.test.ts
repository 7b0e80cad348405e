import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_TOPOLOGY_NAMES } from "@aa/event-bus";
import { deriveMode, type SubjectOwnership } from "../../tools/ops/src/topology/status.js";

const names = DEFAULT_TOPOLOGY_NAMES;

/** Who owns each of the three mode patterns: a stream owning it as is, or `{ stream, as }` through other patterns. */
function owned(owners: Record<string, string | { stream: string; as: string[] } | undefined>): SubjectOwnership[] {
  return Object.entries(owners).map(([pattern, owner]) => {
    if (owner === undefined) return { pattern, owners: [] };
    if (typeof owner === "string") return { pattern, owners: [{ stream: owner, as: [pattern] }] };
    return { pattern, owners: [owner] };
  });
}

const CASES: { name: string; ownership: SubjectOwnership[]; kind: string; label?: RegExp }[] = [
  {
    name: "core and vendor streams own their patterns: multi",
    ownership: owned({ "athlete-ally.>": "AA_CORE_HOT", "vendor.>": "AA_VENDOR_HOT", "sleep.*": "AA_CORE_HOT" }),
    kind: "multi",
  },
  {
    name: "the legacy stream owns all three: single",
    ownership: owned({
      "athlete-ally.>": "ATHLETE_ALLY_EVENTS",
      "vendor.>": "ATHLETE_ALLY_EVENTS",
      "sleep.*": "ATHLETE_ALLY_EVENTS",
    }),
    kind: "single",
  },
  {
    name: "a pattern nobody owns: unowned, naming it",
    ownership: owned({ "athlete-ally.>": undefined, "vendor.>": "AA_VENDOR_HOT", "sleep.*": "AA_CORE_HOT" }),
    kind: "unowned",
    label: /no stream owns athlete-ally\.>/,
  },
  {
    name: "patterns split between legacy and multi streams: mid-migration",
    ownership: owned({ "athlete-ally.>": "AA_CORE_HOT", "vendor.>": "ATHLETE_ALLY_EVENTS", "sleep.*": "AA_CORE_HOT" }),
    kind: "split",
    label: /vendor\.> on ATHLETE_ALLY_EVENTS/,
  },
  {
    name: "streams of other names own everything: unknown",
    ownership: owned({ "athlete-ally.>": "OTHER", "vendor.>": "OTHER", "sleep.*": "OTHER" }),
    kind: "unknown",
    label: /^unrecognised: /,
  },
  {
    name: "the core stream owns a pattern through a wider one: not plain multi",
    ownership: owned({
      "athlete-ally.>": { stream: "AA_CORE_HOT", as: [">"] },
      "vendor.>": "AA_VENDOR_HOT",
      "sleep.*": "AA_CORE_HOT",
    }),
    kind: "split",
    label: /AA_CORE_HOT \(as >\)/,
  },
];

for (const c of CASES) {
  test(`deriveMode: ${c.name}`, () => {
    const mode = deriveMode(c.ownership, names);
    assert.equal(mode.kind, c.kind, mode.label);
    if (c.label) assert.match(mode.label, c.label);
  });
}
