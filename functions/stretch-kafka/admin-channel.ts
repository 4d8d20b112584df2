/**
 * The provider's admin channel to this Kafka cluster (`kafkaAdmin` on each
 * RemoteKafka), built once per run: every broker's replication listener
 * (mTLS, cluster CA), the nodes and their clusters, the claim's
 * min.insync.replicas, and what the provider is asked to do to Kafka (drain,
 * retire, voters, maintenance, metadata.version, kraft.version, rebalance).
 */
import type { KafkaAdmin } from "../../apis/index.ts";
import { claimReplication } from "../../apis/kafka-rules.ts";
import type { NodeAddress } from "./networking/index.ts";
import { findRemote, type ObservedResources } from "./observed.ts";
import { listeners } from "./ports.ts";
import type { QuorumMode } from "./quorum-migration.ts";
import type { Spec } from "./spec.ts";
import type { Topology } from "./topology.ts";

export interface AdminInput {
  composite: string;
  spec: Spec;
  t: Topology;
  addresses: Map<number, NodeAddress>;
  mode: QuorumMode;
  /** Brokers whose replicas the provider moves off before they are removed. */
  drain: number[];
  /** Removed brokers the provider unregisters once Kafka has fenced them. */
  retiredBrokers: number[];
  /** Controllers kept running until they are no longer voters (dynamic quorum). */
  leavingVoters: number[];
  /** Voters of clusters lost for good kept listed as they were, until status has recorded their address. */
  keptVoters: NonNullable<KafkaAdmin["voters"]>;
  /** Clusters under maintenance, and clusters getting leadership back. */
  evacuate: string[];
  restoreLeadership: string[];
  /** The metadata.version to raise Kafka to, once every node runs the claim's version. */
  metadataVersion: KafkaAdmin["metadataVersion"];
  /** kraft.version to raise Kafka to while a static quorum migrates. */
  kraftVersion: KafkaAdmin["kraftVersion"];
  /** Brokers that joined, to move replicas onto (rebalance.ts). */
  rebalance: KafkaAdmin["rebalance"];
  /** What must happen first before a requested rebalance moves data (rebalance.ts busy clauses). */
  movesWaitFor: string | undefined;
}

/** The admin channel, or undefined while no broker's address is known. */
export function adminChannel(o: AdminInput): KafkaAdmin | undefined {
  const { t, addresses } = o;
  const servers = t.nodes.flatMap((n) => {
    const a = addresses.get(n.id);
    return n.isBroker && a ? [`${a.host}:${a.ports.replication}`] : [];
  });
  const [first, ...more] = servers;
  if (first === undefined) return undefined;
  const minIsr = claimReplication(o.spec.kafka.config, t.brokers).minInSyncReplicas;
  return {
    authority: o.composite,
    bootstrapServers: [first, ...more],
    nodes: t.nodes.map((n) => ({ id: n.id, cluster: n.cluster, roles: n.roles })),
    ...(Number.isInteger(minIsr) ? { minInSyncReplicas: minIsr } : {}),
    ...(o.drain.length > 0
      ? {
          drain: {
            nodes: o.drain,
            throttleBytesPerSecond: o.spec.brokerRemoval.throttleBytesPerSecond,
          },
        }
      : {}),
    ...(o.retiredBrokers.length > 0 ? { retiredBrokers: o.retiredBrokers } : {}),
    ...(o.evacuate.length > 0 ? { evacuate: o.evacuate } : {}),
    ...(o.restoreLeadership.length > 0 ? { restoreLeadership: o.restoreLeadership } : {}),
    ...(o.mode === "dynamic" ? { voters: wantedVoters(o) } : {}),
    ...(o.metadataVersion ? { metadataVersion: o.metadataVersion } : {}),
    ...(o.kraftVersion ? { kraftVersion: o.kraftVersion } : {}),
    ...(o.rebalance ? { rebalance: o.rebalance } : {}),
    ...(o.movesWaitFor ? { movesWaitFor: o.movesWaitFor } : {}),
  };
}

/**
 * A dynamic quorum's voters: every controller but those leaving, at its
 * control-plane listener, and a lost one whose address is not recorded yet.
 */
function wantedVoters(o: AdminInput): NonNullable<KafkaAdmin["voters"]> {
  const running = o.t.controllers
    .filter((c) => !o.leavingVoters.includes(c.id))
    .flatMap((c) => {
      const a = o.addresses.get(c.id);
      return a
        ? [
            {
              id: c.id,
              listener: {
                name: listeners.controlplane.name,
                host: a.host,
                port: a.ports.controlplane,
              },
            },
          ]
        : [];
    });
  return [...running, ...o.keptVoters.filter((k) => !running.some((r) => r.id === k.id))];
}

/**
 * The admin channel each cluster's RemoteKafka carries. While an address is
 * pending, a running cluster's channel stays as it was (nothing of a running
 * node changes because another's address is unknown), with this run's
 * feature levels to raise, and requested rebalances told to wait.
 */
export function adminFor(
  admin: KafkaAdmin | undefined,
  o: { observed: ObservedResources; kafkaName: string; pending: boolean },
): (cluster: string) => KafkaAdmin | undefined {
  return (cluster) => {
    const had = (
      findRemote(o.observed, cluster, "RemoteKafka", o.kafkaName)?.spec?.forProvider as
        { kafkaAdmin?: KafkaAdmin } | undefined
    )?.kafkaAdmin;
    if (!o.pending || !had) return admin;
    return {
      ...structuredClone(had),
      ...(admin?.metadataVersion ? { metadataVersion: admin.metadataVersion } : {}),
      ...(admin?.kraftVersion ? { kraftVersion: admin.kraftVersion } : {}),
      // Data moves wait while an address is pending; a clause already there stays.
      ...(!had.movesWaitFor && admin?.movesWaitFor ? { movesWaitFor: admin.movesWaitFor } : {}),
    };
  };
}

/**
 * The channel as one cluster's Kafka CR carries it: the carrier (the cluster
 * with a Kafka CR that comes first by name) carries everything, every other
 * cluster the channel without what changes with every change of the claim
 * (the clauses data moves wait for, the feature levels to raise, the brokers
 * to move replicas onto). Those are withdrawn while nodes roll and given back after,
 * so carried by every cluster they rewrote every cluster's managed resources
 * twice per change, each write a watch event of the composite's (ADR 0026).
 * The provider reads the channel from the central cluster, so where it is
 * carried does not depend on which remote cluster can be reached.
 */
export function carried(admin: KafkaAdmin, carrier: boolean): KafkaAdmin {
  if (carrier) return { ...admin, carrier: true };
  const rest = { ...admin };
  delete rest.movesWaitFor;
  delete rest.metadataVersion;
  delete rest.kraftVersion;
  delete rest.rebalance;
  return { ...rest, carrier: false };
}

/**
 * The bootstrap controllers of clusters given up for good, with the address
 * they had: those recorded before (still in the bootstrap list), and each
 * lost controller of the list that is new, at the address the last admin
 * channel gave it (kafkaAdmin.voters of a remaining cluster's RemoteKafka).
 * One whose address is not known there is left out (the list then changes).
 */
export function formerBootstrapControllers(o: {
  had: { id: number; address: string }[];
  bootstrap: number[];
  lost: number[];
  observed: ObservedResources;
  clusters: string[];
  kafkaName: string;
}): { id: number; address: string }[] {
  const out = o.had.filter((f) => o.bootstrap.includes(f.id));
  for (const id of o.lost) {
    if (!o.bootstrap.includes(id) || out.some((f) => f.id === id)) continue;
    const v = observedVoter(o.observed, o.clusters, o.kafkaName, id);
    if (v) out.push({ id, address: `${v.listener.host}:${String(v.listener.port)}` });
  }
  return out;
}

/**
 * Voter `id` as the last admin channel of a remaining cluster listed it.
 * Until its address is in the composite's status it stays listed (AdminInput
 * keptVoters): a status write can be lost, and the RemoteKafka's spec is then
 * the only place the address of a lost controller is left.
 */
export function observedVoter(
  observed: ObservedResources,
  clusters: string[],
  kafkaName: string,
  id: number,
): NonNullable<KafkaAdmin["voters"]>[number] | undefined {
  for (const cluster of clusters) {
    const admin = (
      findRemote(observed, cluster, "RemoteKafka", kafkaName)?.spec?.forProvider as
        { kafkaAdmin?: KafkaAdmin } | undefined
    )?.kafkaAdmin;
    const v = admin?.voters?.find((x) => x.id === id);
    if (v) return v;
  }
  return undefined;
}
