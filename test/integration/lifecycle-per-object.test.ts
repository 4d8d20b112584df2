/**
 * The claim's life of the shared table (lifecycle.ts) with the standalone
 * engine and a Composition that asks for one managed resource per remote
 * object, the shape composites created before sets were shipped keep
 * (ADR 0026): the table's expectations of what runs hold the same.
 */
import { after, before } from "node:test";
import {
  fm,
  perObjectComposition,
  perObjectCompositionName,
  providerNamespace,
} from "../../devbed/prepare-clusters.ts";
import { standaloneBed, type StandaloneBed } from "../../devbed/standalone-bed.ts";
import { claimLifecycle } from "./lifecycle.ts";

let sb: StandaloneBed;

before(async () => {
  sb = await standaloneBed(["east", "west", "north", "south"]);
  await sb.central.apply(perObjectComposition(), fm);
});

after(async () => {
  await sb.close();
});

claimLifecycle(
  "with the standalone engine, a managed resource per object",
  "standalone",
  () => ({
    path: "standalone",
    central: sb.central,
    remotes: sb.remotes,
    kubeconfigPath: sb.bed.cluster("central").kubeconfigPath,
    providerNamespace,
    perObject: { composition: perObjectCompositionName },
  }),
  "PerObject",
);
