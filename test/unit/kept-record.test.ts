/**
 * The merge patch that writes a pass's kept volumes to a ProviderConfig's
 * record (controller/provider/kept-volumes.ts): exactly the entries noted,
 * whoever wrote the others; nothing when the record has them already; a
 * claim left with no volume leaves the record.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { keptPatch } from "../../controller/provider/kept-volumes.ts";

const node = (id: number): { pool: string; id: number } => ({ pool: "brokers", id });
const noted = (
  kept: Record<string, Record<string, number>>,
  takenUp: Record<string, string[]> = {},
): Parameters<typeof keptPatch>[1] => ({
  kept: new Map(
    Object.entries(kept).map(([claim, nodes]) => [
      claim,
      {
        clusterId: "id-1",
        nodes: new Map(Object.entries(nodes).map(([n, id]) => [n, node(id)])),
      },
    ]),
  ),
  takenUp: new Map(Object.entries(takenUp).map(([claim, names]) => [claim, new Set(names)])),
});

test("volumes kept in one pass are added in one patch, beside what another claim has", () => {
  const record = { "team-b/other": { clusterId: "id-9", nodes: { "data-other-0": node(0) } } };
  assert.deepEqual(keptPatch(record, noted({ "team-a/orders": { "data-0": 0, "data-1": 1 } })), {
    "team-a/orders": { clusterId: "id-1", nodes: { "data-0": node(0), "data-1": node(1) } },
  });
});

test("what the record has already is no write", () => {
  const record = { "team-a/orders": { clusterId: "id-1", nodes: { "data-0": node(0) } } };
  assert.equal(keptPatch(record, noted({ "team-a/orders": { "data-0": 0 } })), undefined);
  assert.equal(keptPatch(record, noted({}, { "team-a/orders": ["data-9"] })), undefined);
});

test("volumes taken up go by name; the claim goes with its last", () => {
  const record = {
    "team-a/orders": {
      clusterId: "id-1",
      nodes: { "data-0": node(0), "data-1": node(1), "data-2": node(2) },
    },
  };
  assert.deepEqual(keptPatch(record, noted({}, { "team-a/orders": ["data-0", "data-1"] })), {
    "team-a/orders": { clusterId: "id-1", nodes: { "data-0": null, "data-1": null } },
  });
  assert.deepEqual(
    keptPatch(record, noted({}, { "team-a/orders": ["data-0", "data-1", "data-2"] })),
    { "team-a/orders": null },
  );
});
