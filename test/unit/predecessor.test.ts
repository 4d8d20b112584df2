/**
 * A claim created again while its earlier composite's managed resources are
 * still being deleted: the new composite composes nothing until they are
 * gone (functions/stretch-kafka/predecessor.ts), whichever shape either
 * composite has, and says so; its own resources, another claim's, and none
 * left do not hold it.
 */
import cloneDeep from "lodash/cloneDeep.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  asComposite,
  composedObject,
  functionConditions,
  readyCondition,
  runPipeline,
  type KubeObject,
} from "../../functions/render.ts";
import { inputApiVersion, inputKind } from "../../functions/stretch-kafka/object-sets.ts";
import { loadExample } from "../examples.ts";
import { composeFrozen } from "./frozen.ts";

const { claim, required } = loadExample("claim-3-clusters.yaml");
const shape = (remoteObjects: string): Record<string, unknown> => ({
  apiVersion: inputApiVersion,
  kind: inputKind,
  remoteObjects,
});

/** The claim's composite, as Crossplane names one: the claim's name and a suffix. */
function composite(suffix: string, uid: string): KubeObject {
  const xr = asComposite(cloneDeep(claim));
  xr.metadata = { ...xr.metadata, name: `${claim.metadata.name ?? ""}-${suffix}`, uid };
  return xr;
}

/** What `xr` composes, as the API server holds it (labels and controller reference). */
function composedBy(xr: KubeObject, remoteObjects: string): KubeObject[] {
  const rsp = runPipeline(xr, [], cloneDeep(required), composeFrozen, shape(remoteObjects));
  return Object.entries(rsp.desired?.resources ?? {}).map(([name, r]) =>
    composedObject(xr, name, r.resource ?? {}),
  );
}

for (const [before, after] of [
  ["PerCluster", "PerCluster"],
  ["PerObject", "PerCluster"],
  ["PerObject", "PerObject"],
]) {
  test(`a new composite (${after}) waits while an earlier one's (${before}) managed resources are left`, () => {
    const old = composite("aaaaa", "uid-old");
    const left = composedBy(old, before ?? "");
    const deleting = left.map((o) => ({
      ...o,
      metadata: { ...o.metadata, deletionTimestamp: "2026-12-07T11:00:00Z" },
    }));
    const xr = composite("bbbbb", "uid-new");
    const rsp = runPipeline(
      xr,
      [],
      [...cloneDeep(required), ...deleting],
      composeFrozen,
      shape(after ?? ""),
    );
    assert.deepEqual(Object.keys(rsp.desired?.resources ?? {}), [], "nothing is composed");
    // Waiting, it requires only them: every ProviderConfig write would count against it.
    assert.deepEqual(Object.keys(rsp.requirements?.resources ?? {}).sort(), [
      "predecessor-RemoteConfigMap",
      "predecessor-RemoteObjectSet",
    ]);
    assert.deepEqual(readyCondition(rsp), { type: "Ready", status: "False", reason: "Creating" });
    const degraded = functionConditions(rsp).find((c) => c.type === "Degraded");
    assert.equal(degraded?.reason, "PredecessorDeleting");
    assert.match(
      degraded.message ?? "",
      new RegExp(
        `of ${old.metadata.name ?? ""}, an earlier composite of this claim, to be deleted \\(kubectl get remoteobjectsets,managed -l crossplane.io/claim-name=orders,crossplane.io/claim-namespace=team-a\\)`,
      ),
    );
    assert.match(degraded.message ?? "", /should they not be deleted .*, delete them$/);

    // The same words whatever is left and whether it is being deleted: each
    // change of the message would be a write of the composite.
    for (const some of [left, deleting.slice(0, 1)]) {
      const other = runPipeline(
        xr,
        [],
        [...cloneDeep(required), ...some],
        composeFrozen,
        shape(after ?? ""),
      );
      assert.equal(
        functionConditions(other).find((c) => c.type === "Degraded")?.message,
        degraded.message,
      );
    }

    // Once they are gone, it composes (the kept volumes are read as usual).
    const gone = runPipeline(xr, [], cloneDeep(required), composeFrozen, shape(after ?? ""));
    assert.ok(Object.keys(gone.desired?.resources ?? {}).length > 0);
    assert.equal(readyCondition(gone).reason, "Creating");
    assert.notEqual(
      functionConditions(gone).find((c) => c.type === "Degraded")?.reason,
      "PredecessorDeleting",
    );
  });
}

test("its own resources, another claim's, and a composite that has composed do not hold it", () => {
  const xr = composite("bbbbb", "uid-new");
  const own = composedBy(xr, "PerCluster");
  const other = asComposite({
    ...cloneDeep(claim),
    metadata: { ...claim.metadata, name: "payments" },
  });
  other.metadata = { ...other.metadata, name: "payments-ccccc", uid: "uid-payments" };
  const theirs = composedBy(other, "PerCluster");
  const rsp = runPipeline(xr, [], [...cloneDeep(required), ...own, ...theirs], composeFrozen);
  assert.ok(Object.keys(rsp.desired?.resources ?? {}).length > 0);
  assert.ok(
    Object.keys(rsp.requirements?.resources ?? {}).some((k) => k.startsWith("predecessor-")),
  );

  // Once anything is composed, it no longer asks (each required kind is a watch to Crossplane).
  const old = composedBy(composite("aaaaa", "uid-old"), "PerCluster");
  const again = runPipeline(xr, own, [...cloneDeep(required), ...old], composeFrozen);
  assert.ok(Object.keys(again.desired?.resources ?? {}).length > 0);
  assert.ok(
    !Object.keys(again.requirements?.resources ?? {}).some((k) => k.startsWith("predecessor-")),
  );
});
