import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addressKey } from "../services/ingest/src/limits/client-address.js";
import { WindowLimiter } from "../services/ingest/src/limits/window-limiter.js";

describe("ingest limits (pure)", () => {
  test("a window counts units: a refusal spends nothing, the window resets, a refund gives one back", () => {
    let now = 1_000;
    const limiter = new WindowLimiter({ max: 10, windowMs: 1_000, now: () => now });
    assert.deepEqual(limiter.take("k", 7), { ok: true, remaining: 3, resetMs: 1_000 });
    now += 400;
    assert.deepEqual(limiter.take("k", 4), { ok: false, retryAfterMs: 600 }, "7 + 4 > 10, refused whole");
    assert.deepEqual(limiter.take("k", 3), { ok: true, remaining: 0, resetMs: 600 }, "the refusal spent nothing");
    assert.equal(limiter.take("other", 10).ok, true, "each key has its own window");
    now += 600;
    assert.deepEqual(limiter.take("k", 10), { ok: true, remaining: 0, resetMs: 1_000 }, "a new window");
  });

  test("failures: exhausted once max are charged, until the window ends; a refund reopens it", () => {
    let now = 0;
    const failures = new WindowLimiter({ max: 2, windowMs: 60_000, now: () => now });
    assert.equal(failures.exhausted("a"), undefined);
    failures.charge("a");
    failures.charge("a");
    assert.equal(failures.exhausted("a"), 60_000);
    failures.refund("a");
    assert.equal(failures.exhausted("a"), undefined);
    failures.charge("a");
    failures.charge("a"); // charged past max: still counted
    now = 59_999;
    assert.equal(failures.exhausted("a"), 1);
    now = 60_000;
    assert.equal(failures.exhausted("a"), undefined);
  });

  test("memory stays bounded: past maxKeys the least recently used key is forgotten", () => {
    const limiter = new WindowLimiter({ max: 1, windowMs: 60_000, maxKeys: 2 });
    limiter.charge("a");
    limiter.charge("b");
    limiter.charge("c");
    assert.equal(limiter.exhausted("a"), undefined, "a was forgotten");
    assert.notEqual(limiter.exhausted("c"), undefined);
  });

  test("addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64", () => {
    assert.equal(addressKey("203.0.113.7"), "203.0.113.7");
    assert.equal(addressKey("::ffff:203.0.113.7"), "203.0.113.7");
    assert.equal(addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(
      addressKey("2001:0DB8:0001:0002:bbbb:cccc:dddd:eeee"),
      "2001:db8:1:2::/64",
      "same /64, any case and padding",
    );
    assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
    assert.equal(addressKey("::1"), "0:0:0:0::/64");
  });
});
