/**
 * Kafka version changes and the KRaft metadata.version. Changing
 * spec.kafka.version rolls every node (the provider's rolling restart takes
 * controllers first for a version change, asking Kafka before each node);
 * once every node runs the new version, the metadata.version is raised to
 * spec.kafka.metadataVersion, or, when the claim names none, to the newest the
 * version runs (the provider sends UpdateFeatures; Kafka itself checks that
 * every node supports it). metadata.version never goes down: a Kafka version
 * or a metadataVersion below what is finalized is refused. Also here: which
 * clusters are under maintenance, and which get leadership back.
 */
import type { KafkaLive } from "../../apis/index.ts";
import {
  metadataVersionName,
  metadataVersionNamed,
  newestMetadataFor,
  type MetadataVersion,
} from "./image.ts";
import { annotations } from "./names.ts";
import { condition, unreachableReason, type ObservedResources } from "./observed.ts";
import type { Problem } from "./validate.ts";
import type { Spec } from "./spec.ts";

export interface MetadataPlan {
  problems: Problem[];
  /** The metadata.version the provider raises Kafka to, once every node runs the version. */
  target: MetadataVersion | undefined;
  /** What Kafka has finalized, by name (when Kafka could be asked). */
  finalized: string | undefined;
}

export function metadataPlan(spec: Spec, live: KafkaLive | undefined): MetadataPlan {
  const version = spec.kafka.version;
  const problems: Problem[] = [];
  const newest = newestMetadataFor(version);
  const pinnedName = spec.kafka.metadataVersion;
  const pinned = pinnedName ? metadataVersionNamed(pinnedName) : undefined;
  const level = live?.reachable ? live.features?.["metadata.version"] : undefined;
  const finalized = level !== undefined ? metadataVersionName(level) : undefined;
  if (pinnedName && !pinned) {
    problems.push({
      severity: "fatal",
      field: "spec.kafka.metadataVersion",
      message: `unknown metadata.version "${pinnedName}"; use a release line such as 4.2 or a level such as 4.2-IV1`,
    });
  } else if (pinned && newest && pinned.level > newest.level) {
    problems.push({
      severity: "fatal",
      field: "spec.kafka.metadataVersion",
      message: `${pinned.name} needs a newer Kafka than ${version} (it runs up to ${newest.name})`,
    });
  }
  if (level !== undefined && newest && newest.level < level) {
    problems.push({
      severity: "fatal",
      field: "spec.kafka.version",
      message: `Kafka ${version} runs metadata.version up to ${newest.name}, but the cluster has finalized ${finalized ?? ""}: going below the finalized metadata.version is refused (its metadata cannot be read by older Kafka)`,
    });
  }
  if (level !== undefined && pinned && pinned.level < level) {
    problems.push({
      severity: "fatal",
      field: "spec.kafka.metadataVersion",
      message: `the cluster has finalized ${finalized ?? ""}; metadata.version cannot go down to ${pinned.name}`,
    });
  }
  return { problems, target: pinned ?? newest, finalized };
}

/**
 * Whether every node runs what the composite now asks: every podset's managed
 * resource carries this change (`rollout`), the provider has observed that
 * spec, and all its pods are Ready at their revision.
 */
export function everyNodeCurrent(observed: ObservedResources, rollout: string): boolean {
  const sets = Object.values(observed).filter(
    (mr): mr is NonNullable<typeof mr> => mr?.kind === "RemoteStrimziPodSet",
  );
  return (
    sets.length > 0 &&
    sets.every((mr) => {
      const meta = mr.metadata as
        { generation?: number; annotations?: Record<string, string> } | undefined;
      const status = mr.status as
        | {
            observedGeneration?: number;
            atProvider?: { pods?: number; readyPods?: number; currentPods?: number };
          }
        | undefined;
      const ap = status?.atProvider;
      // An unreachable cluster's pods are as last seen: never current.
      return (
        condition(mr, "Synced")?.reason !== unreachableReason &&
        meta?.annotations?.[annotations.rollout] === rollout &&
        status?.observedGeneration === meta.generation &&
        ap?.pods !== undefined &&
        ap.readyPods === ap.pods &&
        ap.currentPods === ap.pods
      );
    })
  );
}

/**
 * Clusters under maintenance (`spec.clusters[].maintenance`): the provider
 * moves leadership off them. A cluster cleared since the last run gets it
 * back, until the provider reports nothing left to restore.
 */
export function maintenancePlan(
  spec: Spec,
  status: { kafka?: { evacuated?: string[]; restoringLeadership?: string[] } } | undefined,
  live: KafkaLive | undefined,
): { evacuate: string[]; restoring: string[] } {
  const evacuate = spec.clusters.filter((c) => c.maintenance).map((c) => c.name);
  const known = new Set(spec.clusters.map((c) => c.name));
  const done = live?.reachable === true && live.restorePending === 0;
  const restoring = [
    ...new Set([
      ...(done ? [] : (status?.kafka?.restoringLeadership ?? [])),
      ...(status?.kafka?.evacuated ?? []),
    ]),
  ]
    .filter((c) => !evacuate.includes(c) && known.has(c))
    .sort();
  return { evacuate, restoring };
}
