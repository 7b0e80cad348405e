import assert from "node:assert/strict";
import { test } from "node:test";
import { natsUrlSource, productionReplicasRefusal, replicasSettingWithSource } from "../../tools/ops/src/settings.js";

const production = { NODE_ENV: "production", POD_NAMESPACE: "production" };

test("replicas say where they came from: --replicas, REPLICAS, or the default of NODE_ENV", () => {
  assert.deepEqual(replicasSettingWithSource("3", { REPLICAS: "1" }), { value: 3, from: "--replicas" });
  assert.deepEqual(replicasSettingWithSource(undefined, { REPLICAS: "1" }), { value: 1, from: "REPLICAS" });
  assert.deepEqual(replicasSettingWithSource(undefined, { NODE_ENV: "production" }), {
    value: 3,
    from: "default (NODE_ENV=production)",
  });
  assert.deepEqual(replicasSettingWithSource(undefined, {}), { value: 1, from: "default" });
});

test("in the production namespace, R1 from the (possibly stale) environment is refused; typed, it counts", () => {
  const stale = replicasSettingWithSource(undefined, { ...production, REPLICAS: "1" });
  assert.match(
    productionReplicasRefusal(stale, production) ?? "",
    /namespace production but REPLICAS=1: .*--replicas 3/,
  );
  assert.equal(productionReplicasRefusal(replicasSettingWithSource("1", production), production), undefined);
  assert.equal(productionReplicasRefusal(replicasSettingWithSource(undefined, production), production), undefined);
  assert.equal(
    productionReplicasRefusal(replicasSettingWithSource(undefined, { ...production, REPLICAS: "3" }), production),
    undefined,
  );
});

test("staging (NODE_ENV=production in its images too) keeps REPLICAS=1 without a flag", () => {
  const staging = { NODE_ENV: "production", POD_NAMESPACE: "staging", REPLICAS: "1" };
  assert.equal(productionReplicasRefusal(replicasSettingWithSource(undefined, staging), staging), undefined);
  assert.equal(productionReplicasRefusal(replicasSettingWithSource(undefined, { REPLICAS: "1" }), {}), undefined);
});

test("the NATS URL's source: --nats-url, NATS_URL or the default", () => {
  assert.equal(natsUrlSource("tls://nats.production:4222", { NATS_URL: "nats://old:4222" }), "--nats-url");
  assert.equal(natsUrlSource(undefined, { NATS_URL: "nats://old:4222" }), "NATS_URL");
  assert.equal(natsUrlSource(undefined, {}), "default");
});
