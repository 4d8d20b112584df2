/**
 * The claim's life of the shared table (lifecycle.ts), run by the standalone
 * engine: the same expectations crossplane-core.test.ts holds real Crossplane to.
 */
import { after, before } from "node:test";
import { prepareBed, providerNamespace } from "../../controller/cli/sandbox.ts";
import { playStrimzi, startController, type Controller } from "../../controller/cli/stack.ts";
import type { StrimziPlayer } from "../../controller/cli/strimzi-player.ts";
import { DynamicClient } from "../../controller/kube/dynamic.ts";
import { startTestBed, type TestBed } from "../bed/clusters.ts";
import { fastQueue, testLogger } from "../bed/provider-bed.ts";
import { claimLifecycle } from "./lifecycle.ts";

const remoteNames = ["east", "west", "north", "south"];
let bed: TestBed;
let central: DynamicClient;
const remotes = new Map<string, DynamicClient>();
let controller: Controller;
let players: StrimziPlayer[];

before(async () => {
  bed = await startTestBed({ names: ["central", ...remoteNames] });
  await prepareBed(bed, remoteNames, { targetNamespace: "kafka", report: () => {} });
  for (const name of remoteNames)
    remotes.set(name, new DynamicClient(bed.cluster(name).kubeConfig()));
  central = new DynamicClient(bed.cluster("central").kubeConfig());
  controller = await startController(central, testLogger(), {
    namespace: providerNamespace,
    queue: fastQueue,
  });
  players = playStrimzi(remotes, "kafka", testLogger());
});

after(async () => {
  await Promise.all(players.map((p) => p.stop()));
  await controller.stop();
  for (const r of remotes.values()) await r.close();
  await central.close();
  await bed.close();
});

claimLifecycle("with the standalone engine", () => ({
  path: "standalone",
  central,
  remotes,
  kubeconfigPath: bed.cluster("central").kubeconfigPath,
  providerNamespace,
}));
