/**
 * A claim created again after its data volumes were kept is composed with the
 * cluster id and node ids the volumes were formatted with (read from the
 * ProviderConfigs' status.keptVolumes), so Kafka finds its own data.
 */
import cloneDeep from "lodash/cloneDeep.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { render, type KubeObject } from "../../functions/render.ts";
import { loadExample } from "../examples.ts";
import { composeFrozen } from "./frozen.ts";

const pvcs = (objects: KubeObject[]): Map<string, Record<string, string>> =>
  new Map(
    objects
      .filter((o) => o.kind === "RemotePersistentVolumeClaim")
      .map((o) => {
        const m = (o["spec"] as { forProvider: { manifest: KubeObject } }).forProvider.manifest;
        return [
          `${o.metadata.labels?.["stretchkafka.dev/cluster"] ?? ""}/${m.metadata.name ?? ""}`,
          m.metadata.annotations ?? {},
        ];
      }),
  );

test("a new composite takes up the kept volumes' cluster id and node ids", () => {
  const { claim, required } = loadExample("claim-3-clusters.yaml");
  const fresh = pvcs(render(claim, [], cloneDeep(required), composeFrozen));
  const freshEast = [...fresh.keys()].filter((k) => k.startsWith("east/")).sort();
  assert.deepEqual(freshEast, [
    "east/data-orders-brokers-0",
    "east/data-orders-brokers-1",
    "east/data-orders-controllers-2",
  ]);

  // What a deleted claim of the same name left in east and west: other ids,
  // another cluster id (the deleted composite's).
  const kept = (cluster: string, nodes: Record<string, { pool: string; id: number }>): void => {
    const pc = required.find((r) => r.metadata.name === cluster);
    assert.ok(pc);
    pc["status"] = {
      keptVolumes: { "team-a/orders": { clusterId: "KeptClusterId0000000000", nodes } },
    };
  };
  kept("east", {
    "data-orders-controllers-20": { pool: "controllers", id: 20 },
    "data-orders-brokers-21": { pool: "brokers", id: 21 },
    "data-orders-brokers-27": { pool: "brokers", id: 27 },
  });
  kept("west", { "data-orders-controllers-22": { pool: "controllers", id: 22 } });
  const again = pvcs(render(claim, [], cloneDeep(required), composeFrozen));
  for (const name of [
    "east/data-orders-controllers-20",
    "east/data-orders-brokers-21",
    "east/data-orders-brokers-27",
    "west/data-orders-controllers-22",
  ]) {
    const a = again.get(name);
    assert.ok(a, `${name} is composed again`);
    assert.equal(a["stretchkafka.dev/cluster-id"], "KeptClusterId0000000000");
  }
  // Nodes without a kept volume get new ids, never one that was used.
  const ids = [...again.keys()].map((k) => Number(/-(\d+)$/.exec(k)?.[1]));
  assert.equal(new Set(ids).size, ids.length, "no id twice");
  for (const id of ids) assert.ok([20, 21, 22, 27].includes(id) || id > 27, `id ${String(id)}`);

  // Another claim's record is not taken.
  const other = loadExample("claim-3-clusters.yaml");
  other.claim.metadata = { ...other.claim.metadata, name: "payments" };
  const theirs = pvcs(render(other.claim, [], cloneDeep(required), composeFrozen));
  for (const a of theirs.values())
    assert.notEqual(a["stretchkafka.dev/cluster-id"], "KeptClusterId0000000000");
});

test("a second pass keeps the kept cluster id after the provider has taken the volumes up again", () => {
  const { claim, required } = loadExample("claim-3-clusters.yaml");
  for (const pc of required)
    pc["status"] = {
      keptVolumes: {
        "team-a/orders": {
          clusterId: "KeptClusterId0000000000",
          nodes: { "data-orders-controllers-2": { pool: "controllers", id: 2 } },
        },
      },
    };
  const first = render(claim, [], cloneDeep(required), composeFrozen);
  // The provider forgets a kept volume once it has applied it again, and the
  // composite the next pass reads may not show the status the first one wrote
  // yet (a reader's cache): what was composed is all that says which id it was.
  for (const pc of required) delete pc["status"];
  const second = render(claim, first.slice(1), cloneDeep(required), composeFrozen);
  const clusterIds = (objects: KubeObject[]): Set<string> =>
    new Set(
      objects
        .filter((o) => o.kind === "RemoteConfigMap")
        .flatMap((o) => {
          const m = (o["spec"] as { forProvider: { manifest: { data?: Record<string, string> } } })
            .forProvider.manifest;
          return m.data?.["cluster.id"] ? [m.data["cluster.id"]] : [];
        }),
    );
  assert.deepEqual(clusterIds(first), new Set(["KeptClusterId0000000000"]));
  assert.deepEqual(clusterIds(second), new Set(["KeptClusterId0000000000"]));
  assert.equal(
    (second[0]?.["status"] as { clusterId?: string }).clusterId,
    "KeptClusterId0000000000",
  );
});
