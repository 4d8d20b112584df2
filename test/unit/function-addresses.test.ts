/**
 * Nodes whose address must be observed (nodeport, loadbalancer) are not
 * configured before it is known, and a node that runs is never taken apart
 * because its address is missing from one observation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { render, type KubeObject } from "../../functions/render.ts";
import { loadExample } from "../examples.ts";
import { composeFrozen } from "./frozen.ts";

const { claim, observed, required } = loadExample("claim-nodeport.yaml");

type Mr = KubeObject & {
  spec: { forProvider: { manifest: KubeObject & { spec?: { pods?: KubeObject[] } } } };
};

/** Everything the first render asked for, as if the provider had made it. */
function runningState(): KubeObject[] {
  const mrs = render(claim, observed, required, composeFrozen).slice(1);
  const external = new Map(observed.map((o) => [o.metadata.name, o]));
  return mrs.map((m) => external.get(m.metadata.name) ?? m);
}

function byName(objs: KubeObject[]): Map<string, string> {
  return new Map(objs.slice(1).map((o) => [o.metadata.name ?? "", JSON.stringify(o)]));
}

test("without observed addresses no node is configured, and the composite says what it waits for", () => {
  const [xr, ...mrs] = render(claim, [], required, composeFrozen);
  assert.equal(mrs.filter((m) => m.kind === "RemoteConfigMap").length, 3, "only the three anchors");
  const pods = (mrs as Mr[])
    .filter((m) => m.kind === "RemoteStrimziPodSet")
    .flatMap((m) => m.spec.forProvider.manifest.spec?.pods ?? []);
  assert.deepEqual(pods, []);
  const degraded = (
    xr?.["status"] as { conditions: { type: string; reason?: string; message?: string }[] }
  ).conditions.find((c) => c.type === "Degraded");
  assert.ok(degraded);
  assert.equal(degraded.reason, "AddressesPending");
  assert.match(
    degraded.message ?? "",
    /node ports of Service ingest-brokers-0-external in cluster dc1 not assigned yet/,
  );
});

for (const lost of ["ingest-brokers-0-external", "ingest-controllers-1-external"]) {
  test(`a running node keeps every object when ${lost} loses its address`, () => {
    const running = runningState();
    const before = byName(render(claim, running, required, composeFrozen));
    const flaky = running.map((o) =>
      o.metadata.name?.endsWith(lost) ? { ...o, status: { atProvider: {} } } : o,
    );
    const after = byName(render(claim, flaky, required, composeFrozen));
    // Everything but the composite's status is unchanged: nothing deleted, nothing restarted.
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [name, obj] of before) assert.equal(after.get(name), obj, `${name} changed`);
  });
}
