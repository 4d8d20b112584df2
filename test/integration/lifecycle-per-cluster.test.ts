/**
 * The claim's life of the shared table (lifecycle.ts) with the standalone
 * engine and a Composition that asks for one RemoteObjectSet per remote
 * cluster (ADR 0026): claims naming it compose three managed resources where
 * the default Composition's compose one per remote object, and the table's
 * expectations of what runs hold the same.
 */
import { after, before } from "node:test";
import {
  fm,
  perClusterComposition,
  perClusterCompositionName,
  providerNamespace,
} from "../../devbed/prepare-clusters.ts";
import { standaloneBed, type StandaloneBed } from "../../devbed/standalone-bed.ts";
import { claimLifecycle } from "./lifecycle.ts";

let sb: StandaloneBed;

before(async () => {
  sb = await standaloneBed(["east", "west", "north", "south"]);
  await sb.central.apply(perClusterComposition(), fm);
});

after(async () => {
  await sb.close();
});

claimLifecycle("with the standalone engine, a RemoteObjectSet per cluster", "standalone", () => ({
  path: "standalone",
  central: sb.central,
  remotes: sb.remotes,
  kubeconfigPath: sb.bed.cluster("central").kubeconfigPath,
  providerNamespace,
  perCluster: { composition: perClusterCompositionName },
}));
