/**
 * The standalone path on the test bed, as the end-to-end tests use it: a
 * central and remote clusters prepared for claims (sandbox.ts's prepareBed),
 * the controller (provider and engine) in this process, Strimzi played in
 * each remote cluster's `kafka` namespace.
 */
import { prepareBed, providerNamespace } from "./prepare-clusters.ts";
import { startController, type Controller } from "../controller/cli/controller.ts";
import { playStrimzi } from "./strimzi-player.ts";
import { DynamicClient } from "../controller/kube/dynamic.ts";
import { startTestBed, type TestBed } from "./clusters.ts";
import { fastQueue, testLogger } from "./provider-bed.ts";

export interface StandaloneBed {
  bed: TestBed;
  central: DynamicClient;
  /** Remote clusters by the name their ProviderConfig has. */
  remotes: Map<string, DynamicClient>;
  controller: Controller;
  close(): Promise<void>;
}

export async function standaloneBed(
  remoteNames: string[],
  o: {
    /** Whether the provider asks Kafka (default true; no Kafka runs in this bed, so it is unreachable). */
    kafkaAdmin?: boolean;
  } = {},
): Promise<StandaloneBed> {
  const bed = await startTestBed({ names: ["central", ...remoteNames] });
  await prepareBed(bed, remoteNames, { targetNamespace: "kafka", report: () => {} });
  const remotes = new Map(
    remoteNames.map((n) => [n, new DynamicClient(bed.cluster(n).kubeConfig())]),
  );
  const central = new DynamicClient(bed.cluster("central").kubeConfig());
  const controller = await startController(central, testLogger(), {
    namespace: providerNamespace,
    queue: fastQueue,
    // No Kafka runs here: it is asked often, so its absence shows within seconds.
    kafka: o.kafkaAdmin === false ? false : { intervalMs: 2000 },
  });
  const players = playStrimzi(remotes, "kafka", testLogger());
  return {
    bed,
    central,
    remotes,
    controller,
    close: async () => {
      await Promise.all(players.map((p) => p.stop()));
      await controller.stop();
      for (const r of remotes.values()) await r.close();
      await central.close();
      await bed.close();
    },
  };
}
