/**
 * The claim's life of the shared table (lifecycle.ts), run by the standalone
 * engine with the shipped Composition (a RemoteObjectSet per remote cluster):
 * the same expectations crossplane-core.test.ts holds real Crossplane to.
 */
import { after, before } from "node:test";
import { providerNamespace } from "../../devbed/prepare-clusters.ts";
import { standaloneBed, type StandaloneBed } from "../../devbed/standalone-bed.ts";
import { claimLifecycle } from "./lifecycle.ts";

let sb: StandaloneBed;

before(async () => {
  sb = await standaloneBed(["east", "west", "north", "south"]);
});

after(async () => {
  await sb.close();
});

claimLifecycle("with the standalone engine", "standalone", () => ({
  path: "standalone",
  central: sb.central,
  remotes: sb.remotes,
  kubeconfigPath: sb.bed.cluster("central").kubeconfigPath,
  providerNamespace,
}));
