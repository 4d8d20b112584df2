/**
 * When the provider writes a RemoteObjectSet's status at once, and when it
 * lets it wait for the interval (ADR 0026): every write is a watch event that
 * Crossplane's XR circuit breaker counts, so only what the set's readers act
 * on goes at once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Condition } from "../../apis/index.ts";
import { worthNow, type Turning } from "../../controller/provider/object-set.ts";

const c = (type: string, status: Condition["status"]): Condition => ({
  type,
  status,
  reason: "Test",
  lastTransitionTime: "2026-12-07T00:00:00Z",
});
const at = (
  ready: Condition["status"],
  synced: Condition["status"],
  objects: string[],
): Turning => ({
  conditions: [c("Ready", ready), c("Synced", synced)],
  objects,
});
const objects = ["cm-a", "podset-brokers"];

test("a set becoming Ready, and Synced turning False or back, go at once", () => {
  assert.equal(worthNow(undefined, at("True", "True", objects)), true);
  assert.equal(worthNow(at("False", "True", objects), at("True", "True", objects)), true);
  assert.equal(worthNow(at("True", "True", objects), at("True", "False", objects)), true);
  assert.equal(worthNow(at("True", "False", objects), at("True", "True", objects)), true);
  assert.equal(worthNow(undefined, at("False", "False", objects)), true);
});

test("an object gone from the status goes at once (a removal waits for it)", () => {
  assert.equal(worthNow(at("True", "True", objects), at("True", "True", ["cm-a"])), true);
  assert.equal(
    worthNow(at("True", "True", objects), at("True", "True", ["cm-a", "podset-controllers"])),
    true,
  );
});

test("objects appearing wait: a new set's first status, objects added and not ready yet", () => {
  assert.equal(worthNow(undefined, at("False", "True", objects)), false);
  assert.equal(
    worthNow(at("True", "True", objects), at("False", "True", [...objects, "cm-b"])),
    false,
  );
});

test("progress waits: the same conditions and objects", () => {
  assert.equal(worthNow(at("False", "True", objects), at("False", "True", objects)), false);
  assert.equal(worthNow(at("True", "True", objects), at("True", "True", objects)), false);
});

test("a set no longer Ready with the same objects goes at once (a pod evicted or restarting): Ready never stays behind", () => {
  assert.equal(worthNow(at("True", "True", objects), at("False", "True", objects)), true);
  assert.equal(worthNow(at("True", "True", objects), at("False", "True", ["cm-a"])), true);
});

test("Kafka's live view changing goes at once: day-2 steps and a node drain's turns act on it", () => {
  const kafka = (views: string[]): Turning => ({ ...at("True", "True", objects), kafka: views });
  const view = (live: Record<string, unknown>): string => `kafka ${JSON.stringify(live)}`;
  const drain = (state: string, pod: string): string =>
    view({ reachable: true, nodeDrain: { pods: [pod], pod, state } });
  assert.equal(worthNow(kafka([]), kafka([drain("Waiting", "east/n1/p-0")])), true);
  assert.equal(
    worthNow(kafka([drain("Waiting", "east/n1/p-0")]), kafka([drain("Released", "east/n1/p-0")])),
    true,
  );
  assert.equal(
    worthNow(kafka([drain("Released", "east/n1/p-0")]), kafka([drain("Evicted", "east/n1/p-0")])),
    true,
  );
  assert.equal(worthNow(kafka([drain("Evicted", "east/n1/p-0")]), kafka([])), true);
  assert.equal(
    worthNow(
      kafka([view({ reachable: true, partitions: { total: 6, reassigning: 2 } })]),
      kafka([view({ reachable: true, partitions: { total: 6, reassigning: 0 } })]),
    ),
    true,
  );
  assert.equal(
    worthNow(kafka([drain("Waiting", "east/n1/p-0")]), kafka([drain("Waiting", "east/n1/p-0")])),
    false,
  );
});
