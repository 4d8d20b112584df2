/**
 * Everything every cluster needs, as remote objects: per cluster the anchor,
 * the paused Kafka CR, identity, Services, networking, CA certificates,
 * policies, metrics and external access, and per node its configuration,
 * certificate, volumes and pod in its pool's podset. A node whose address
 * (or external address) is not known yet is not configured at all: one that
 * already runs is carried exactly as it runs.
 */
import { replicationDefaults } from "../../apis/kafka-rules.ts";
import { ExternalAccess } from "./external-listener.ts";
import { kafkaImage, metadataVersion } from "./image.ts";
import { nodeConfig, type QuorumConfig } from "./kafka-config.ts";
import { metricsConfigMapName, metricsObjects } from "./metrics.ts";
import { kafkaUuid } from "./names.ts";
import type { NetworkingContext, NodeAddress, NetworkingProvider } from "./networking/index.ts";
import { findRemote, type ObservedMr, type ObservedResources } from "./observed.ts";
import {
  formatScript,
  formatScriptKey,
  podDefinition,
  runScript,
  runScriptKey,
} from "./pod-template.ts";
import type { QuorumMode } from "./quorum-migration.ts";
import { anchor } from "./resources/anchor.ts";
import { kafkaDisruptionBudget } from "./resources/disruption-budget.ts";
import { kafkaNetworkPolicy } from "./resources/network-policy.ts";
import { defaultLogging, nodeClaims, nodeConfigMap } from "./resources/node.ts";
import { podIdentity } from "./resources/rbac.ts";
import type { RemoteObject } from "./resources/remote-object.ts";
import { caCertificates, nodeCertificate } from "./resources/secrets.ts";
import { clusterServices } from "./resources/services.ts";
import { pausedKafka, podSet } from "./resources/strimzi.ts";
import type { Spec } from "./spec.ts";
import { logDirs, nodeVolumes } from "./storage.ts";
import type { KafkaNode, Topology } from "./topology.ts";

export interface Plan {
  /** Every remote object; the RemoteKafka ones without the admin channel (admin-channel.ts adds it). */
  objects: RemoteObject[];
  /** Why some addresses are not known yet. */
  pending: string[];
  /** Each node's address, where known. */
  addresses: Map<number, NodeAddress>;
  bootstrapByCluster: Map<string, string>;
  /** The external listener's bootstrap address per cluster, where known. */
  externalBootstrap: Map<string, string>;
}

export interface PlanInput {
  spec: Spec;
  composite: string;
  t: Topology;
  observed: ObservedResources;
  networking: { provider: NetworkingProvider; ctx: NetworkingContext };
  clusterId: string;
  /** How the nodes find the quorum (quorum-migration.ts). */
  mode: QuorumMode;
  /** Dynamic quorum: the controllers in controller.quorum.bootstrap.servers. */
  bootstrapControllers: number[];
  /** Of those, the ones of clusters given up for good, with the address they had (host:port). */
  formerBootstrap: { id: number; address: string }[];
  /** Dynamic quorum created so: its first controllers format with --initial-controllers (their directory ids are stretch-kafka's). */
  initialControllers: boolean;
}

export function plan(o: PlanInput): Plan {
  const { spec, t, observed, composite } = o;
  const { provider, ctx } = o.networking;
  const addresses = new Map<number, NodeAddress>();
  const pending: string[] = [];
  for (const n of t.nodes) {
    const a = provider.nodeAddress(ctx, n);
    if ("address" in a) addresses.set(n.id, a.address);
    else pending.push(a.pending);
  }
  const votersKnown = t.controllers.every((c) => addresses.has(c.id));
  const externalSpec = spec.kafka.listeners?.external;
  const external = externalSpec
    ? new ExternalAccess(externalSpec, t, (cluster, name) => ctx.observedService(cluster, name))
    : undefined;
  const externalPending: string[] = [];
  const voterNodes =
    o.mode === "static"
      ? t.controllers
      : t.controllers.filter((c) => o.bootstrapControllers.includes(c.id));
  const running = voterNodes.flatMap((node) => {
    const a = addresses.get(node.id);
    return a ? [{ id: node.id, controlplane: `${a.host}:${a.ports.controlplane}` }] : [];
  });
  // A lost cluster's bootstrap controllers keep their place, in the order the
  // quorum was formed with, so the list every running node has stays as it is.
  const former = o.mode === "dynamic" ? o.formerBootstrap : [];
  const quorum: QuorumConfig = {
    mode: o.mode,
    voters:
      former.length === 0
        ? running
        : o.bootstrapControllers.flatMap((id) => {
            const r = running.find((v) => v.id === id);
            const f = former.find((v) => v.id === id);
            return r ? [r] : f ? [{ id, controlplane: f.address }] : [];
          }),
  };
  const replication = replicationDefaults(t.brokers);
  const podSetApiVersion = spec.strimzi.apiVersion;
  const image = kafkaImageOf(spec);
  const base = { kafkaName: t.kafkaName, namespace: t.namespace };
  const initialControllers = quorum.voters
    .map((v) => `${v.id}@${v.controlplane}:${kafkaUuid(`${o.clusterId}/directory/${v.id}`)}`)
    .join(",");

  const objects: RemoteObject[] = [];
  const bootstrapByCluster = new Map<string, string>();
  for (const c of t.clusters) {
    const cl = { ...base, cluster: c.name };
    objects.push(
      anchor({ ...cl, composite }),
      pausedKafka({ ...cl, podSetApiVersion }),
      ...podIdentity({ ...cl, podNames: c.nodes.map((n) => n.podName) }),
      ...clusterServices(cl),
      ...provider.objects(ctx, c),
      ...caCertificates({ ...cl, authority: composite }),
      kafkaDisruptionBudget({ ...cl, pods: c.nodes.length }),
    );
    if (spec.networking.networkPolicies?.enabled) {
      objects.push(
        kafkaNetworkPolicy({
          ...cl,
          policy: spec.networking.networkPolicies,
          metrics: spec.kafka.metrics !== undefined,
          external: externalSpec !== undefined,
        }),
      );
    }
    if (spec.kafka.metrics) objects.push(...metricsObjects({ ...cl, metrics: spec.kafka.metrics }));
    if (external) objects.push(...external.objects(c));
    const brokerAddrs = c.nodes
      .filter((n) => n.isBroker)
      .flatMap((n) => {
        const a = addresses.get(n.id);
        return a ? [`${a.host}:${a.ports.plain}`] : [];
      });
    if (brokerAddrs.length > 0) bootstrapByCluster.set(c.name, brokerAddrs.join(","));

    for (const pool of c.pools) {
      const pods: Record<string, unknown>[] = [];
      for (const node of pool.nodes) {
        const address = addresses.get(node.id);
        const volumes = nodeVolumes(pool.spec.storage, node);
        const ext = external && node.isBroker ? external.configurable(node) : undefined;
        if (ext && "pending" in ext) externalPending.push(ext.pending);
        if (!address || !votersKnown || (ext && "pending" in ext)) {
          // Keep a node that already runs exactly as it was until its address is known again.
          const kept = carried(observed, c.name, node, volumes);
          objects.push(...kept.objects);
          if (kept.pod) pods.push(kept.pod);
          continue;
        }
        const dirs = logDirs(volumes, node);
        const data: Record<string, string> = {
          "server.config": nodeConfig({
            spec,
            ...base,
            node,
            address,
            ...(ext && "address" in ext ? { external: ext.address } : {}),
            quorum,
            replication,
            ...dirs,
          }),
          "cluster.id": o.clusterId,
          "metadata.version": metadataVersion(spec.kafka.version),
          "log4j2.properties": defaultLogging,
        };
        const formatInInit = o.mode === "dynamic" && node.isController;
        if (formatInInit) {
          data[formatScriptKey] = formatScript(
            o.initialControllers && o.bootstrapControllers.includes(node.id)
              ? initialControllers
              : undefined,
          );
          data[runScriptKey] = runScript;
        }
        const own = provider.certificateNames(ctx, node);
        const outside = external && node.isBroker ? external.certificateNames(node) : undefined;
        const names = {
          dnsNames: [...new Set([...own.dnsNames, ...(outside?.dnsNames ?? [])])],
          ipAddresses: [...new Set([...own.ipAddresses, ...(outside?.ipAddresses ?? [])])],
        };
        objects.push(
          nodeConfigMap({ ...cl, node, data }),
          nodeCertificate({ ...cl, authority: composite, podName: node.podName, ...names }),
          ...nodeClaims({ ...cl, clusterId: o.clusterId, node, volumes }),
        );
        pods.push(
          podDefinition({
            spec,
            ...base,
            node,
            pool: pool.spec,
            podSetName: pool.podSetName,
            image,
            volumes,
            configData: data,
            formatInInit,
            ...(outside ? { certificateNames: [...outside.dnsNames, ...outside.ipAddresses] } : {}),
          }),
        );
      }
      objects.push(
        podSet({
          ...cl,
          apiVersion: podSetApiVersion,
          name: pool.podSetName,
          pool: pool.spec.name,
          nodeIds: pool.nodes.map((n) => n.id),
          pods,
        }),
      );
    }
  }
  return {
    objects,
    pending: [...(votersKnown ? pending : [...new Set(pending)]), ...externalPending],
    addresses,
    bootstrapByCluster,
    externalBootstrap: external?.bootstrapServers() ?? new Map<string, string>(),
  };
}

/** The image the nodes run (validation refuses a version with none known). */
function kafkaImageOf(spec: Spec): string {
  return kafkaImage(spec.kafka.version, spec.kafka.image) ?? "";
}

/**
 * Metrics turned off: each cluster's exporter ConfigMap stays, as it was,
 * until every node runs a revision that no longer mounts it. A pod restarted
 * before its turn in the roll would otherwise not start (its projected
 * volume names the ConfigMap, and it is not optional).
 */
export function metricsConfigInUse(observed: ObservedResources, t: Topology): RemoteObject[] {
  return t.clusters.flatMap((c) => {
    const mr = findRemote(observed, c.name, "RemoteConfigMap", metricsConfigMapName(t.kafkaName));
    const manifest = mr?.spec?.forProvider?.manifest as RemoteObject["manifest"] | undefined;
    return manifest
      ? [
          {
            cluster: c.name,
            kind: "RemoteConfigMap" as const,
            manifest: structuredClone(manifest),
            ownedByAnchor: true,
          },
        ]
      : [];
  });
}

/** A running node's objects and pod exactly as they were observed. */
function carried(
  observed: ObservedResources,
  cluster: string,
  node: KafkaNode,
  volumes: ReturnType<typeof nodeVolumes>,
): { objects: RemoteObject[]; pod?: Record<string, unknown> } {
  const cm = findRemote(observed, cluster, "RemoteConfigMap", node.podName);
  const cert = findRemote(observed, cluster, "RemoteSecret", node.podName);
  const claims = volumes.flatMap((v) =>
    v.claimName ? [findRemote(observed, cluster, "RemotePersistentVolumeClaim", v.claimName)] : [],
  );
  const sps = Object.values(observed).find(
    (mr) =>
      mr?.kind === "RemoteStrimziPodSet" &&
      mr.metadata?.labels?.["stretchkafka.dev/cluster"] === cluster &&
      (
        (
          mr.spec?.forProvider?.manifest?.["spec"] as
            { pods?: { metadata?: { name?: string } }[] } | undefined
        )?.pods ?? []
      ).some((p) => p.metadata?.name === node.podName),
  );
  const objects: RemoteObject[] = [];
  const back = (mr: ObservedMr | undefined, kind: RemoteObject["kind"]): void => {
    const fp = mr?.spec?.forProvider as Record<string, unknown> | undefined;
    if (!fp?.["manifest"]) return;
    const { manifest, ownerAnchor, ...rest } = fp;
    objects.push({
      cluster,
      kind,
      manifest: structuredClone(manifest) as RemoteObject["manifest"],
      ownedByAnchor: ownerAnchor !== undefined,
      ...(Object.keys(rest).length > 0
        ? { secret: structuredClone(rest) as NonNullable<RemoteObject["secret"]> }
        : {}),
    });
  };
  back(cm, "RemoteConfigMap");
  back(cert, "RemoteSecret");
  for (const claim of claims) back(claim, "RemotePersistentVolumeClaim");
  const pods =
    (sps?.spec?.forProvider?.manifest?.["spec"] as { pods?: Record<string, unknown>[] } | undefined)
      ?.pods ?? [];
  const pod = pods.find(
    (p) => (p["metadata"] as { name?: string } | undefined)?.name === node.podName,
  );
  return { objects, ...(pod ? { pod: structuredClone(pod) } : {}) };
}
