/**
 * Whom a remote object left in place is kept for, and which managed resource
 * may take it up again: the same claim, or the same composite, also once
 * Crossplane has removed its labels from a composed resource it deletes
 * because its composite no longer composes it (a hand-over to sets).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { keptFor, mayTakeUp } from "../../controller/provider/desired.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";

const mr = (name: string, labels: Record<string, string>): KubeObject => ({
  apiVersion: "remote.stretchkafka.dev/v1alpha1",
  kind: "RemoteConfigMap",
  metadata: { name, labels },
});
const ours = { "stretchkafka.dev/composite": "orders-x1" };
const crossplane = {
  "crossplane.io/composite": "orders-x1",
  "crossplane.io/claim-name": "orders",
  "crossplane.io/claim-namespace": "team-a",
};

test("kept for the claim while Crossplane's labels are there; for the composite once they are removed", () => {
  assert.equal(keptFor(mr("orders-x1-east-cm", { ...ours, ...crossplane })), "claim team-a/orders");
  assert.equal(keptFor(mr("orders-x1-east-cm", ours)), "composite orders-x1");
  assert.equal(keptFor(mr("orders-x1-east-cm", {})), "composite orders-x1-east-cm");
});

test("taken up by the same claim, or by the same composite's resources; never by another's", () => {
  const entry = mr("orders-x1-east-objects", { ...ours, ...crossplane });
  assert.equal(mayTakeUp(entry, "claim team-a/orders"), true);
  assert.equal(mayTakeUp(entry, "composite orders-x1"), true);
  assert.equal(mayTakeUp(entry, "claim team-b/orders"), false);
  assert.equal(mayTakeUp(entry, "composite orders-x2"), false);
  // A claim created again gets a composite of its own: the claim is what it shares.
  const again = mr("orders-x2-east-objects", {
    "stretchkafka.dev/composite": "orders-x2",
    ...crossplane,
    "crossplane.io/composite": "orders-x2",
  });
  assert.equal(mayTakeUp(again, "claim team-a/orders"), true);
  assert.equal(mayTakeUp(again, "composite orders-x1"), false);
});
