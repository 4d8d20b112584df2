/**
 * Kafka cluster ids the function derives: never starting with "-", which
 * `kafka-storage format --cluster-id` would read as an option (one composite
 * in 64 could never format); every other id stays what it was.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { kafkaClusterId, kafkaUuid } from "../../functions/stretch-kafka/names.ts";

test("a cluster id never starts with '-'; an id that did not keeps its value", () => {
  const seeds = Array.from({ length: 2000 }, (_, i) => `stretch-kafka/cluster-id/uid-${String(i)}`);
  const dashed = seeds.filter((s) => kafkaUuid(s).startsWith("-"));
  assert.ok(dashed.length > 10, `${String(dashed.length)} of 2000 plain ids start with '-'`);
  for (const s of seeds) {
    const id = kafkaClusterId(s);
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/, s);
    assert.equal(kafkaClusterId(s), id, "the same seed, the same id");
    if (!dashed.includes(s)) assert.equal(id, kafkaUuid(s), "an id that worked is kept");
  }
});
