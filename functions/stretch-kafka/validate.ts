/**
 * Semantic validation of a composite: what the API server's schema cannot
 * check. Each problem names the field to fix. Fatal problems stop rendering
 * (nothing is changed in any cluster); warnings are reported and rendering
 * goes on.
 */
import { ownedConfigKeys, type XStretchKafkaStatus } from "../../apis/index.ts";
import {
  claimReplication,
  replicationDefaults,
  survivesClusterLoss,
} from "../../apis/kafka-rules.ts";
import { quorumRisk } from "./quorum.ts";
import type { Topology } from "./topology.ts";
import type { Spec } from "./spec.ts";

export interface Problem {
  severity: "fatal" | "warning";
  field: string;
  message: string;
}

const fatal = (field: string, message: string): Problem => ({ severity: "fatal", field, message });
const warning = (field: string, message: string): Problem => ({
  severity: "warning",
  field,
  message,
});

export function isOwnedConfigKey(key: string): boolean {
  return (
    (ownedConfigKeys.exact as readonly string[]).includes(key) ||
    ownedConfigKeys.prefixes.some((p) => key.startsWith(p))
  );
}

/** Checks that need only the spec (and the ProviderConfigs known to exist, when given). */
export function validateSpec(
  spec: Spec,
  opts: { providerConfigs?: Set<string>; kafkaName: string },
): Problem[] {
  const problems: Problem[] = [];
  const config = (spec.kafka.config ?? {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) {
    if (isOwnedConfigKey(key)) {
      problems.push(
        fatal(
          `spec.kafka.config["${key}"]`,
          `is set by stretch-kafka from the topology and cannot be overridden; remove it`,
        ),
      );
    } else if (!["string", "number", "boolean"].includes(typeof value)) {
      problems.push(
        fatal(
          `spec.kafka.config["${key}"]`,
          `must be a string, number or boolean, not ${JSON.stringify(value)}`,
        ),
      );
    }
  }

  const seenNames = new Map<string, number>();
  const seenNetworkIds = new Map<string, number>();
  const seenBootstrapHosts = new Map<string, number>();
  spec.clusters.forEach((c, i) => {
    const prevName = seenNames.get(c.name);
    if (prevName !== undefined) {
      problems.push(
        fatal(
          `spec.clusters[${i}].name`,
          `"${c.name}" is also the name of spec.clusters[${prevName}]; names must be unique`,
        ),
      );
    } else seenNames.set(c.name, i);
    const networkId = c.networkId ?? c.name;
    const prevId = seenNetworkIds.get(networkId);
    if (prevId !== undefined) {
      problems.push(
        fatal(
          `spec.clusters[${i}].networkId`,
          `"${networkId}" is also the network id of spec.clusters[${prevId}]; network ids must be unique`,
        ),
      );
    } else seenNetworkIds.set(networkId, i);
    if (opts.providerConfigs && !opts.providerConfigs.has(c.providerConfigRef.name)) {
      problems.push(
        fatal(
          `spec.clusters[${i}].providerConfigRef.name`,
          `ProviderConfig "${c.providerConfigRef.name}" does not exist; register the cluster first`,
        ),
      );
    }
    if (spec.networking.provider === "nodeport" && !c.externalAddress) {
      problems.push(
        fatal(
          `spec.clusters[${i}].externalAddress`,
          `is required with networking provider nodeport: the address other clusters reach this cluster's nodes at`,
        ),
      );
    }
    const external = spec.kafka.listeners?.external?.type;
    if (external === "nodeport" && !c.externalAddress) {
      problems.push(
        fatal(
          `spec.clusters[${i}].externalAddress`,
          `is required with an external listener of type nodeport: the address clients outside reach this cluster's nodes at`,
        ),
      );
    }
    if (external === "ingress") {
      if (!c.ingress) {
        problems.push(
          fatal(
            `spec.clusters[${i}].ingress`,
            `is required with an external listener of type ingress: set bootstrapHost and hostTemplate (e.g. broker-{nodeId}.${c.name}.kafka.example.com)`,
          ),
        );
      } else {
        const prev = seenBootstrapHosts.get(c.ingress.bootstrapHost);
        if (prev !== undefined) {
          problems.push(
            fatal(
              `spec.clusters[${i}].ingress.bootstrapHost`,
              `"${c.ingress.bootstrapHost}" is also the bootstrap host of spec.clusters[${prev}]; each cluster needs its own`,
            ),
          );
        } else seenBootstrapHosts.set(c.ingress.bootstrapHost, i);
      }
    }
    c.nodePools.forEach((p, j) => {
      const longest = `${opts.kafkaName}-${p.name}-99999`;
      if (longest.length > 63) {
        problems.push(
          fatal(
            `spec.clusters[${i}].nodePools[${j}].name`,
            `pod names "${opts.kafkaName}-${p.name}-<id>" would exceed 63 characters; shorten the pool or claim name`,
          ),
        );
      }
    });
  });
  return problems;
}

/** Checks of the resolved topology against what it must survive. */
export function validateTopology(spec: Spec, t: Topology, lostClusters: string[] = []): Problem[] {
  const problems: Problem[] = [];
  if (t.controllers.length < 3) {
    problems.push(
      fatal(
        "spec.clusters",
        `${t.controllers.length} controller(s) in total; a stretch cluster needs at least 3 (one in each of 3 clusters)` +
          (lostClusters.length > 0
            ? `; add a cluster in place of lost cluster ${lostClusters.join(", ")} in the same change`
            : ""),
      ),
    );
  }
  if (t.brokers.length === 0)
    problems.push(fatal("spec.clusters", "no node pool has the broker role"));
  const risk = quorumRisk(t).message;
  if (risk) problems.push(warning("spec.clusters", risk));

  const { replicationFactor: rf, minInSyncReplicas: minIsr } = claimReplication(
    spec.kafka.config,
    t.brokers,
  );
  const defaults = replicationDefaults(t.brokers);
  for (const [key, value] of [
    ["default.replication.factor", rf],
    ["min.insync.replicas", minIsr],
  ] as const) {
    if (Number.isNaN(value) || value < 1)
      problems.push(fatal(`spec.kafka.config["${key}"]`, "must be a positive integer"));
  }
  if (rf > t.brokers.length) {
    problems.push(
      fatal(
        `spec.kafka.config["default.replication.factor"]`,
        `${rf} is more than the ${t.brokers.length} brokers the topology has`,
      ),
    );
  } else if (minIsr > rf) {
    problems.push(
      fatal(
        `spec.kafka.config["min.insync.replicas"]`,
        `${minIsr} is more than the replication factor ${rf}: no write could ever succeed`,
      ),
    );
  } else if (t.brokers.length > 0 && !survivesClusterLoss(t.brokers, rf, minIsr)) {
    problems.push(
      warning(
        `spec.kafka.config`,
        `replication factor ${rf} with min.insync.replicas ${minIsr} can lose acknowledged writes when one cluster is lost; use the defaults (${defaults.replicationFactor}/${defaults.minInSyncReplicas})`,
      ),
    );
  }
  return problems;
}

/**
 * Changes a running cluster cannot take. `status` is the composite's observed
 * status; `lost` the controllers of clusters given up for good (removal.ts),
 * whose leaving is a fact, not a choice: it is never refused as a risk, and a
 * static quorum, which cannot drop them, is told what it can do instead.
 */
export function validateChange(
  spec: Spec,
  status: XStretchKafkaStatus | undefined,
  t: Topology,
  lost: { id: number; cluster: string }[] = [],
): Problem[] {
  const problems: Problem[] = [];
  if (!status?.clusterId) return problems;
  if (status.networkingProvider && status.networkingProvider !== spec.networking.provider) {
    problems.push(
      fatal(
        "spec.networking.provider",
        `the running cluster uses ${status.networkingProvider}; changing it to ${spec.networking.provider} is refused (nodes would lose each other); create a new StretchKafka instead`,
      ),
    );
  }
  const mode = spec.quorum.mode;
  // Modes themselves (the static-to-dynamic migration, no way back): quorum-migration.ts.
  const phase = status.quorumMigration?.phase;
  const was = [...(status.kafka?.controllers ?? [])].sort((a, b) => a - b).join(",");
  const now = t.controllers
    .map((n) => n.id)
    .sort((a, b) => a - b)
    .join(",");
  const removed = (status.kafka?.controllers ?? []).filter(
    (id) => !t.controllers.some((c) => c.id === id),
  );
  const lostRemoved = lost.filter((n) => removed.includes(n.id));
  const migrating =
    mode === "dynamic" &&
    (status.quorumMode !== "dynamic" || (phase !== undefined && phase !== "Done"));
  if (was && was !== now && migrating) {
    problems.push(
      fatal(
        "spec.clusters",
        `the quorum is migrating from static to dynamic (status.quorumMigration.phase ${phase ?? "RaisingKRaftVersion"}); its controllers cannot change until the migration is done (was ${was}, would be ${now})`,
      ),
    );
    return problems;
  }
  if (status.quorumMode === "dynamic" && mode === "dynamic") {
    const risk = quorumRisk(t).message;
    const onlyLost = removed.every((id) => lostRemoved.some((n) => n.id === id));
    if (was && was !== now && risk && !spec.quorum.acceptQuorumRisk && !onlyLost) {
      problems.push(
        fatal(
          "spec.clusters",
          `after this change of controllers ${risk}; refused unless spec.quorum.acceptQuorumRisk is true`,
        ),
      );
    }
  }
  if (status.quorumMode !== "dynamic" && mode === "static" && lostRemoved.length > 0) {
    const clusters = [...new Set(lostRemoved.map((n) => n.cluster))].join(", ");
    problems.push(
      fatal(
        "spec.clusters",
        `cluster ${clusters} is lost for good, but a static quorum cannot drop its controller(s) ${lostRemoved.map((n) => n.id).join(", ")} from controller.quorum.voters: keep cluster ${clusters} in spec.clusters with its ProviderConfig abandoned (nothing is applied to it), and have its brokers' replicas re-created elsewhere by scaling its broker pools to 0 with spec.brokerRemoval.policy Drain; the quorum runs on the other controllers' majority and cannot lose another cluster (docs/operations.md, "Replacing a lost cluster")`,
      ),
    );
  } else if (status.quorumMode !== "dynamic" && mode === "static" && was && was !== now) {
    problems.push(
      fatal(
        "spec.clusters",
        `a static quorum cannot change its controllers (was ${was}, would be ${now}); only a dynamic quorum can: set spec.quorum.mode to dynamic first (a migration, Kafka 4.1 or newer), then change the controllers once status.quorumMigration.phase is Done`,
      ),
    );
  }
  return problems;
}
