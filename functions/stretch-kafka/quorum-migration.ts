/**
 * A running static quorum migrated to a dynamic one (KIP-853), in Kafka's
 * documented order, when spec.quorum.mode changes from static to dynamic:
 * 1. RaisingKRaftVersion: once every node runs this change (Kafka 4.1 or
 *    newer), the provider raises kraft.version to 1 (UpdateFeatures); the
 *    quorum's leader writes the voter set and each voter reports its
 *    directory id. The nodes keep controller.quorum.voters meanwhile: Kafka
 *    runs with it on either kraft.version, so a stop here loses nothing.
 * 2. RollingNodes: once Kafka reports kraft.version 1, every node is
 *    configured with controller.quorum.bootstrap.servers instead and rolled
 *    one at a time by the provider's Kafka-aware rolling restart.
 * 3. Done, once every node runs that configuration. The phase is kept: a
 *    migrated quorum's directory ids are Kafka's own, so a controller formats
 *    its storage without --initial-controllers.
 * Controllers cannot change until Done (validateChange). kraft.version never
 * goes down, so neither does the mode. Pure: Kafka's answer is the live view
 * observed on the RemoteKafka resources.
 */
import type { KafkaLive, XStretchKafkaStatus } from "../../apis/index.ts";
import { refused } from "./live.ts";
import type { FunctionCondition } from "./status.ts";
import type { Problem } from "./validate.ts";
import type { Spec } from "./spec.ts";

export type QuorumMode = "static" | "dynamic";
export type MigrationPhase = "RaisingKRaftVersion" | "RollingNodes" | "Done";

export interface QuorumPlan {
  /** How the nodes are configured in this run. */
  mode: QuorumMode;
  /** The migration's phase before this run's roll is known (RollingNodes may end as Done). */
  phase: MigrationPhase | undefined;
  /** Whether the provider is to raise kraft.version (once every node runs this change). */
  raiseKRaftVersion: boolean;
  problems: Problem[];
}

/** Kafka's first release line that upgrades kraft.version (static to dynamic). */
const migratesFrom = [4, 1];

function atLeast(version: string, [major, minor]: number[]): boolean {
  const [a = 0, b = 0] = version.split(".").map(Number);
  return a > (major ?? 0) || (a === major && b >= (minor ?? 0));
}

export function quorumPlan(
  spec: Spec,
  status: XStretchKafkaStatus | undefined,
  live: KafkaLive | undefined,
): QuorumPlan {
  const wanted: QuorumMode = spec.quorum.mode;
  const problems: Problem[] = [];
  const kraft = live?.reachable ? live.features?.["kraft.version"] : undefined;
  const before = status?.quorumMigration?.phase;
  if (!status?.clusterId)
    return { mode: wanted, phase: undefined, raiseKRaftVersion: false, problems };
  const running: QuorumMode = status.quorumMode === "dynamic" ? "dynamic" : "static";
  if (running === "dynamic") {
    if (wanted === "static") {
      problems.push({
        severity: "fatal",
        field: "spec.quorum.mode",
        message:
          "the running cluster has a dynamic quorum; going back to a static quorum is not supported by Kafka",
      });
    }
    return { mode: "dynamic", phase: before, raiseKRaftVersion: false, problems };
  }
  if (wanted === "static") {
    if ((kraft ?? 0) >= 1) {
      problems.push({
        severity: "warning",
        field: "spec.quorum.mode",
        message:
          "Kafka reports kraft.version 1 (a dynamic quorum; kafka-features.sh upgrade --release-version raises it too) while the nodes are configured with static voters; set spec.quorum.mode to dynamic to configure them for it",
      });
    }
    return { mode: "static", phase: undefined, raiseKRaftVersion: false, problems };
  }
  if ((kraft ?? 0) >= 1)
    return { mode: "dynamic", phase: "RollingNodes", raiseKRaftVersion: false, problems };
  const version = spec.kafka.version;
  const runs = status.kafka?.version ?? version;
  const old = [version, runs].find((v) => !atLeast(v, migratesFrom));
  if (old !== undefined) {
    problems.push({
      severity: "fatal",
      field: "spec.quorum.mode",
      message: `migrating a static quorum to a dynamic one needs Kafka ${migratesFrom.join(".")} or newer on every node (kraft.version upgrade); the cluster ${old === runs ? "runs" : "would run"} ${old}: upgrade spec.kafka.version first`,
    });
  }
  return { mode: "static", phase: "RaisingKRaftVersion", raiseKRaftVersion: true, problems };
}

/** The phase this run ends in: RollingNodes becomes Done once every node runs it. */
export function migrationPhase(
  plan: QuorumPlan,
  everyNodeCurrent: boolean,
): MigrationPhase | undefined {
  return plan.phase === "RollingNodes" && everyNodeCurrent ? "Done" : plan.phase;
}

/** QuorumMigrating: present from the change to dynamic until every node runs the dynamic configuration. */
export function migratingCondition(
  phase: MigrationPhase | undefined,
  live: KafkaLive | undefined,
): FunctionCondition | undefined {
  if (phase === undefined) return undefined;
  if (phase === "Done") {
    return {
      type: "QuorumMigrating",
      status: "False",
      reason: "Migrated",
      message:
        "the quorum is dynamic: kraft.version 1 and every node configured with controller.quorum.bootstrap.servers; controllers can be added and removed",
    };
  }
  return {
    type: "QuorumMigrating",
    status: "True",
    reason: phase,
    message:
      phase === "RaisingKRaftVersion"
        ? `raising kraft.version to 1 once every node runs this change${refused(live, [
            "features",
          ])}${live && !live.reachable ? ` (Kafka cannot be asked: ${live.message ?? ""})` : ""}`
        : "Kafka reports kraft.version 1; every node restarts, one at a time, with controller.quorum.bootstrap.servers instead of controller.quorum.voters; controllers can change once this is done",
  };
}
