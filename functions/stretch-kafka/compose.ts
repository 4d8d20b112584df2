/**
 * function-stretch-kafka: an XStretchKafka and what was observed in, every
 * managed resource of every remote cluster and the composite's status out.
 * Pure and deterministic: no clock, no randomness, no I/O.
 */
import type { KafkaAdmin } from "../../apis/index.ts";
import { createHash } from "node:crypto";
import {
  Ready,
  Severity,
  Status,
  Target,
  type Condition as FnCondition,
  type Requirements,
  type Resource,
  type Result,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import {
  groups,
  formatErrors,
  validate,
  type NodeIdAllocation,
  type ProviderConfig,
  type StretchKafkaSpec,
  type StretchKafkaStatus,
  type XStretchKafka,
} from "../../apis/index.ts";
import { defaultKafkaVersion, kafkaImage, metadataVersion } from "./image.ts";
import { nodeConfig, producerDefaults, type QuorumConfig } from "./kafka-config.ts";
import { managedResource, resourceName, type ManagedResource } from "./managed.ts";
import { annotations, caCertSecret } from "./names.ts";
import { providers, type NetworkingContext, type NodeAddress } from "./networking/index.ts";
import { allocateNodeIds, allocationFromObserved, withRetained } from "./node-ids.ts";
import { findRemote, isReady, type ObservedMr, type ObservedResources } from "./observed.ts";
import {
  formatScriptKey,
  podDefinition,
  runDir,
  runScriptKey,
  stableHash,
} from "./pod-template.ts";
import { listeners } from "./ports.ts";
import { replicationDefaults } from "./quorum.ts";
import { decideRemovals, decideVoterRemovals, nodeIdProblems } from "./removal.ts";
import { everyNodeCurrent, maintenancePlan, metadataPlan } from "./upgrade.ts";
import { anchor } from "./resources/anchor.ts";
import { kafkaNetworkPolicy } from "./resources/network-policy.ts";
import { metricsConfigMapName, metricsObjects } from "./metrics.ts";
import { defaultLogging, nodeClaims, nodeConfigMap } from "./resources/node.ts";
import { podIdentity } from "./resources/rbac.ts";
import type { RemoteObject } from "./resources/remote-object.ts";
import { caCertificates, nodeCertificate } from "./resources/secrets.ts";
import { ExternalAccess } from "./external-listener.ts";
import { clusterServices } from "./resources/services.ts";
import { pausedKafka, podSet } from "./resources/strimzi.ts";
import { clusterHealth, conditions } from "./status.ts";
import {
  migratingCondition,
  migrationPhase,
  quorumPlan,
  type QuorumMode,
} from "./quorum-migration.ts";
import { observedLive } from "./live.ts";
import { nodeVolumes, logDirs } from "./storage.ts";
import { buildTopology, type KafkaNode, type Topology } from "./topology.ts";
import { validateChange, validateSpec, validateTopology, type Problem } from "./validate.ts";

const claimNameLabel = "crossplane.io/claim-name";
const claimNamespaceLabel = "crossplane.io/claim-namespace";
/** Re-run soon while converging; rarely once settled (watches bring changes sooner). */
const ttlConverging = 15;
const ttlSettled = 600;

/** A 22-character Kafka id (base64url of 16 bytes), derived from a seed. */
export function kafkaUuid(seed: string): string {
  return createHash("sha256").update(seed).digest().subarray(0, 16).toString("base64url");
}

function observedResources(req: RunFunctionRequest): ObservedResources {
  const out: ObservedResources = {};
  for (const [name, r] of Object.entries(req.observed?.resources ?? {})) out[name] = r.resource;
  return out;
}

function result(severity: Severity, message: string, reason?: string): Result {
  return {
    severity,
    message,
    ...(reason ? { reason } : {}),
    target: Target.TARGET_COMPOSITE_AND_CLAIM,
  };
}

function problemResults(problems: Problem[]): Result[] {
  return problems.map((p) =>
    result(
      p.severity === "fatal" ? Severity.SEVERITY_FATAL : Severity.SEVERITY_WARNING,
      `${p.field}: ${p.message}`,
    ),
  );
}

/** A response that changes nothing: Crossplane stops on a fatal result and keeps what runs. */
function refuse(
  req: RunFunctionRequest,
  results: Result[],
  requirements?: Requirements,
): RunFunctionResponse {
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: { seconds: ttlConverging, nanos: 0 } },
    desired: req.desired,
    results,
    context: req.context,
    requirements,
    conditions: [],
  };
}

const providerConfigKey = (name: string): string => `providerconfig-${name}`;

/**
 * Asks Crossplane for each cluster's ProviderConfig; it fetches them and calls
 * again with them in requiredResources, so the function can refuse a claim
 * naming one that does not exist without doing any I/O itself.
 */
function providerConfigRequirements(spec: StretchKafkaSpec): Requirements {
  const resources: Requirements["resources"] = {};
  for (const c of spec.clusters) {
    const name = c.providerConfigRef.name;
    resources[providerConfigKey(name)] = {
      apiVersion: groups.remote,
      kind: "ProviderConfig",
      matchName: name,
    };
  }
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- a required field of the message
  return { extraResources: {}, resources, schemas: {} };
}

/** ProviderConfigs Crossplane looked for and did not find (none known before it looked). */
function missingProviderConfigs(req: RunFunctionRequest, spec: StretchKafkaSpec): Problem[] {
  const problems: Problem[] = [];
  spec.clusters.forEach((c, i) => {
    const key = providerConfigKey(c.providerConfigRef.name);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- older Crossplane sends extraResources
    const fetched = req.requiredResources[key] ?? req.extraResources[key];
    if (fetched && fetched.items.length === 0) {
      problems.push({
        severity: "fatal",
        field: `spec.clusters[${i}].providerConfigRef.name`,
        message: `ProviderConfig "${c.providerConfigRef.name}" does not exist; register the cluster first (stretch-kafka register-cluster)`,
      });
    }
  });
  return problems;
}

/**
 * What a deleted claim of the same name left in the clusters (the provider
 * records it on each ProviderConfig when it keeps a data volume): the cluster
 * id the volumes were formatted with, and which node each belongs to.
 */
function keptVolumes(
  req: RunFunctionRequest,
  spec: StretchKafkaSpec,
  claim: string,
): { clusterId?: string; allocation?: NodeIdAllocation } {
  let clusterId: string | undefined;
  const found = new Map<string, { cluster: string; pool: string; ids: number[] }>();
  for (const c of spec.clusters) {
    const key = providerConfigKey(c.providerConfigRef.name);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- older Crossplane sends extraResources
    const pc = (req.requiredResources[key] ?? req.extraResources[key])?.items[0]?.resource as
      ProviderConfig | undefined;
    const kept = pc?.status?.keptVolumes?.[claim];
    for (const n of Object.values(kept?.nodes ?? {})) {
      if (!n) continue;
      const k = `${c.name}/${n.pool}`;
      const entry = found.get(k) ?? { cluster: c.name, pool: n.pool, ids: [] };
      entry.ids.push(n.id);
      found.set(k, entry);
      clusterId ??= kept?.clusterId;
    }
  }
  const allocation = allocationFromObserved([...found.values()]);
  return { ...(clusterId ? { clusterId } : {}), ...(allocation ? { allocation } : {}) };
}

function recoveredAllocation(
  observed: ObservedResources,
): ReturnType<typeof allocationFromObserved> {
  const found: { cluster: string; pool: string; ids: number[] }[] = [];
  for (const mr of Object.values(observed)) {
    if (mr?.kind !== "RemoteStrimziPodSet") continue;
    const manifest = mr.spec?.forProvider?.manifest as
      | { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }
      | undefined;
    const ids = manifest?.metadata?.annotations?.[annotations.nodeIds];
    const pool = manifest?.metadata?.labels?.["strimzi.io/pool-name"];
    const cluster = mr.metadata?.labels?.["stretchkafka.dev/cluster"];
    if (ids && pool && cluster)
      found.push({ cluster, pool, ids: ids.split(",").filter(Boolean).map(Number) });
  }
  return allocationFromObserved(found);
}

interface Plan {
  objects: RemoteObject[];
  pending: string[];
  bootstrapByCluster: Map<string, string>;
  /** The external listener's bootstrap address per cluster, where known. */
  externalBootstrap: Map<string, string>;
}

/** Everything every cluster needs. Nodes whose addresses are unknown are not configured at all. */
function plan(o: {
  xr: XStretchKafka;
  t: Topology;
  observed: ObservedResources;
  clusterId: string;
  /** How the nodes find the quorum (quorum-migration.ts). */
  mode: QuorumMode;
  /** Dynamic quorum: the controllers in controller.quorum.bootstrap.servers. */
  bootstrapControllers: number[];
  /** Dynamic quorum created so: its first controllers format with --initial-controllers (their directory ids are stretch-kafka's). */
  initialControllers: boolean;
  /** Brokers whose replicas the provider moves off before they are removed. */
  drain: number[];
  /** Removed brokers the provider unregisters once Kafka has fenced them. */
  retiredBrokers: number[];
  /** Controllers kept running until they are no longer voters (dynamic quorum). */
  leavingVoters: number[];
  /** Clusters under maintenance, and clusters getting leadership back. */
  evacuate: string[];
  restoreLeadership: string[];
}): Plan {
  const { xr, t, observed } = o;
  const spec = xr.spec;
  const composite = xr.metadata.name ?? "";
  const provider = providers[spec.networking.provider];
  const ctx: NetworkingContext = {
    topology: t,
    networking: {
      ...spec.networking,
      clusterDomain: spec.networking.clusterDomain ?? "cluster.local",
      clusterSetDomain: spec.networking.clusterSetDomain ?? "clusterset.local",
    },
    observedService: (cluster, name) =>
      findRemote(observed, cluster, "RemoteService", name)?.status?.atProvider,
  };
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
  const mode = o.mode;
  const voterNodes =
    mode === "static"
      ? t.controllers
      : t.controllers.filter((c) => o.bootstrapControllers.includes(c.id));
  const quorum: QuorumConfig = {
    mode,
    voters: voterNodes.flatMap((node) => {
      const address = addresses.get(node.id);
      return address ? [{ node, address }] : [];
    }),
  };
  const replication = replicationDefaults(t);
  const podSetApiVersion = spec.strimzi?.apiVersion ?? "core.strimzi.io/v1";
  const image = kafkaImage(spec.kafka.version ?? defaultKafkaVersion, spec.kafka.image) ?? "";
  const base = { kafkaName: t.kafkaName, namespace: t.namespace };
  const initialControllers = voterNodes
    .flatMap((n) => {
      const a = addresses.get(n.id);
      return a
        ? [
            `${n.id}@${a.host}:${a.ports.controlplane}:${kafkaUuid(`${o.clusterId}/directory/${n.id}`)}`,
          ]
        : [];
    })
    .join(",");

  const objects: RemoteObject[] = [];
  const bootstrapByCluster = new Map<string, string>();
  // The provider's admin channel: every broker's replication listener (mTLS, cluster CA).
  const adminServers = t.nodes.flatMap((n) => {
    const a = addresses.get(n.id);
    return n.isBroker && a ? [`${a.host}:${a.ports.replication}`] : [];
  });
  const [firstServer, ...moreServers] = adminServers;
  const kafkaAdmin: KafkaAdmin | undefined =
    firstServer !== undefined
      ? {
          authority: composite,
          bootstrapServers: [firstServer, ...moreServers],
          nodes: t.nodes.map((n) => ({ id: n.id, cluster: n.cluster, roles: n.roles })),
          ...(o.drain.length > 0
            ? {
                drain: {
                  nodes: o.drain,
                  throttleBytesPerSecond: spec.brokerRemoval?.throttleBytesPerSecond ?? 52428800,
                },
              }
            : {}),
          ...(o.retiredBrokers.length > 0 ? { retiredBrokers: o.retiredBrokers } : {}),
          ...(o.evacuate.length > 0 ? { evacuate: o.evacuate } : {}),
          ...(o.restoreLeadership.length > 0 ? { restoreLeadership: o.restoreLeadership } : {}),
          ...(mode === "dynamic"
            ? {
                voters: t.controllers
                  .filter((c) => !o.leavingVoters.includes(c.id))
                  .flatMap((c) => {
                    const a = addresses.get(c.id);
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
                  }),
              }
            : {}),
        }
      : undefined;
  // While an address is pending, a running cluster's admin list stays as it was
  // (nothing of a running node changes because another's address is unknown).
  const adminFor = (cluster: string): { kafkaAdmin?: KafkaAdmin } => {
    const had = (
      findRemote(observed, cluster, "RemoteKafka", t.kafkaName)?.spec?.forProvider as
        { kafkaAdmin?: KafkaAdmin } | undefined
    )?.kafkaAdmin;
    const admin = pending.length > 0 && had ? had : kafkaAdmin;
    return admin ? { kafkaAdmin: admin } : {};
  };
  for (const c of t.clusters) {
    const cl = { ...base, cluster: c.name };
    objects.push(
      anchor({ ...cl, composite }),
      pausedKafka({ ...cl, podSetApiVersion, ...adminFor(c.name) }),
      ...podIdentity({ ...cl, podNames: c.nodes.map((n) => n.podName) }),
      ...clusterServices(cl),
      ...provider.objects(ctx, c),
      ...caCertificates({ ...cl, authority: composite }),
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
          "metadata.version": metadataVersion(spec.kafka.version ?? defaultKafkaVersion),
          "log4j2.properties": defaultLogging,
        };
        const formatInInit = mode === "dynamic" && node.isController;
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
    bootstrapByCluster,
    externalBootstrap: external?.bootstrapServers() ?? new Map<string, string>(),
  };
}

/**
 * Dynamic quorum: the stock start script formats storage without
 * --initial-controllers, which Kafka refuses for a controller without static
 * voters; this runs first, and the script's own format then skips the volume.
 */
function formatScript(initialControllers: string | undefined): string {
  const flag = initialControllers
    ? `--initial-controllers "${initialControllers}"`
    : "--no-initial-controllers";
  return `#!/bin/bash
# Formats this controller's storage for a dynamic (KIP-853) quorum.
set -euo pipefail
cd /opt/kafka
grep -E '^(node\\.id|process\\.roles|controller\\.listener\\.names|controller\\.quorum\\.bootstrap\\.servers|listeners|advertised\\.listeners|listener\\.security\\.protocol\\.map|inter\\.broker\\.listener\\.name|log\\.dirs|metadata\\.log\\.dir)=' \\
  custom-config/server.config > /tmp/format.properties
exec ./bin/kafka-storage.sh format --ignore-formatted \\
  --cluster-id "$(cat custom-config/cluster.id)" \\
  --release-version "$(cat custom-config/metadata.version)" \\
  --config /tmp/format.properties \\
  ${flag}
`;
}

/**
 * Dynamic quorum: the stock start script (kafka_run.sh, Strimzi 1.2 and its
 * main branch as of 2026-08) formats storage with no quorum flag, which Kafka
 * 4.1-4.3 refuses for a controller without static voters ("you must specify
 * one of the following: --standalone, --initial-controllers, or
 * --no-initial-controllers"), so the pod would never start; the real-Kafka
 * tests (docs/adr/0008) showed it. This runs the stock script from a copy of the
 * image's home (symbolic links, in an emptyDir) whose bin/kafka-storage.sh
 * adds --no-initial-controllers to format: volumes format.sh already formatted
 * are skipped as before, a new one joins the existing quorum.
 */
const runScript = `#!/bin/bash
# Starts the stock kafka_run.sh with a kafka-storage.sh that formats a dynamic-quorum controller.
set -euo pipefail
home=${runDir}/home
rm -rf "$home"
mkdir -p "$home/bin"
for f in /opt/kafka/*; do
  [ "$(basename "$f")" = bin ] || ln -s "$f" "$home/"
done
for f in /opt/kafka/bin/*; do ln -s "$f" "$home/bin/"; done
rm "$home/bin/kafka-storage.sh"
cat > "$home/bin/kafka-storage.sh" <<'EOF'
#!/bin/bash
if [ "\${1:-}" = format ]; then exec /opt/kafka/bin/kafka-storage.sh "$@" --no-initial-controllers; fi
exec /opt/kafka/bin/kafka-storage.sh "$@"
EOF
chmod +x "$home/bin/kafka-storage.sh"
cd "$home"
exec ./kafka_run.sh
`;

/**
 * Metrics turned off: each cluster's exporter ConfigMap stays, as it was,
 * until every node runs a revision that no longer mounts it. A pod restarted
 * before its turn in the roll would otherwise not start (its projected
 * volume names the ConfigMap, and it is not optional).
 */
function metricsConfigInUse(observed: ObservedResources, t: Topology): RemoteObject[] {
  return t.clusters.flatMap((c) => {
    const mr = findRemote(observed, c.name, "RemoteConfigMap", metricsConfigMapName(t.kafkaName));
    const manifest = mr?.spec?.forProvider?.manifest as RemoteObject["manifest"] | undefined;
    return manifest
      ? [{ cluster: c.name, kind: "RemoteConfigMap" as const, manifest, ownedByAnchor: true }]
      : [];
  });
}

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
      manifest: manifest as RemoteObject["manifest"],
      ownedByAnchor: ownerAnchor !== undefined,
      ...(Object.keys(rest).length > 0
        ? { secret: rest as NonNullable<RemoteObject["secret"]> }
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
  return { objects, ...(pod ? { pod } : {}) };
}

function toCondition(c: {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}): FnCondition {
  const status =
    c.status === "True"
      ? Status.STATUS_CONDITION_TRUE
      : c.status === "False"
        ? Status.STATUS_CONDITION_FALSE
        : Status.STATUS_CONDITION_UNKNOWN;
  return {
    type: c.type,
    status,
    reason: c.reason,
    message: c.message,
    target: Target.TARGET_COMPOSITE_AND_CLAIM,
  };
}

/** RunFunction: the whole function, in-process. */
export function compose(req: RunFunctionRequest): RunFunctionResponse {
  const raw = req.observed?.composite?.resource;
  if (!raw)
    return refuse(req, [
      result(Severity.SEVERITY_FATAL, "the request has no observed composite resource"),
    ]);
  const schemaCheck = validate("XStretchKafka", raw);
  if (!schemaCheck.valid)
    return refuse(req, [
      result(Severity.SEVERITY_FATAL, `invalid composite: ${formatErrors(schemaCheck.errors)}`),
    ]);
  const xr = raw as XStretchKafka;
  const spec = xr.spec;
  const status = xr.status;
  const composite = xr.metadata.name ?? "";
  const kafkaName = xr.metadata.labels?.[claimNameLabel] ?? composite;
  const observed = observedResources(req);

  const requirements = providerConfigRequirements(spec);
  const problems = [...validateSpec(spec, { kafkaName }), ...missingProviderConfigs(req, spec)];
  const pools = spec.clusters.flatMap((c) =>
    c.nodePools.map((p) => ({
      cluster: c.name,
      pool: p.name,
      replicas: p.replicas,
      ...(p.removeNodeIds ? { removeNodeIds: p.removeNodeIds } : {}),
      ...(p.nextNodeIds ? { nextNodeIds: p.nextNodeIds } : {}),
    })),
  );
  // A new composite of a claim whose volumes were kept takes them up again:
  // same cluster id, same node ids.
  const kept =
    status?.clusterId || status?.nodeIds
      ? {}
      : keptVolumes(req, spec, `${xr.metadata.labels?.[claimNamespaceLabel] ?? ""}/${kafkaName}`);
  const previous = status?.nodeIds ?? recoveredAllocation(observed) ?? kept.allocation;
  problems.push(...nodeIdProblems(spec, previous));
  const wanted = allocateNodeIds(pools, previous);
  // Brokers this change removes: Kafka is asked first (removal.ts).
  const live = observedLive(observed);
  const previously = (
    ids: number[] | undefined,
  ): { id: number; cluster: string; pool: string }[] => {
    const had = new Set(ids ?? []);
    return (status?.nodeIds?.pools ?? []).flatMap((p) =>
      p.ids.filter((id) => had.has(id)).map((id) => ({ id, cluster: p.cluster, pool: p.pool })),
    );
  };
  const wantedTopology = buildTopology(kafkaName, spec, wanted);
  const removal = decideRemovals(
    spec,
    previously(status?.kafka?.brokers),
    wantedTopology,
    live,
    status?.kafka?.retiredBrokers ?? [],
  );
  // Dynamic quorum: a controller leaves the voters before its pod goes.
  const voterRemoval = decideVoterRemovals(
    spec,
    previously(status?.kafka?.controllers),
    wantedTopology,
    live,
  );
  problems.push(...removal.problems, ...voterRemoval.problems);
  const metadata = metadataPlan(spec, live);
  const maintenance = maintenancePlan(spec, status, live);
  const quorum = quorumPlan(spec, status, live);
  problems.push(...metadata.problems, ...quorum.problems);
  const allocation = withRetained(wanted, [...removal.draining, ...voterRemoval.leaving]);
  const t = buildTopology(kafkaName, spec, allocation);
  const repl = replicationDefaults(t);
  problems.push(
    ...validateTopology(spec, t, { rf: repl.replicationFactor, minIsr: repl.minInSyncReplicas }),
  );
  problems.push(...validateChange(spec, status, wantedTopology));
  if (!kafkaImage(spec.kafka.version ?? defaultKafkaVersion, spec.kafka.image)) {
    problems.push({
      severity: "fatal",
      field: "spec.kafka.image",
      message: `no Strimzi Kafka image is known for Kafka ${spec.kafka.version ?? ""}; set spec.kafka.image or use Kafka 4.1, 4.2 or 4.3`,
    });
  }
  if (problems.some((p) => p.severity === "fatal"))
    return refuse(req, problemResults(problems), requirements);

  const clusterId =
    status?.clusterId ??
    kept.clusterId ??
    kafkaUuid(`stretch-kafka/cluster-id/${xr.metadata.uid ?? composite}`);
  const mode = quorum.mode;
  const recorded =
    status?.kafka?.bootstrapControllers?.filter((id) => t.controllers.some((c) => c.id === id)) ??
    [];
  const bootstrapControllers = recorded.length > 0 ? recorded : t.controllers.map((c) => c.id);
  const p = plan({
    xr,
    t,
    observed,
    clusterId,
    mode,
    bootstrapControllers,
    initialControllers: quorum.phase === undefined,
    drain: removal.draining.map((n) => n.id),
    leavingVoters: voterRemoval.leaving.map((n) => n.id),
    evacuate: maintenance.evacuate,
    restoreLeadership: maintenance.restoring,
    retiredBrokers: removal.retired,
  });

  const providerConfigOf = new Map(spec.clusters.map((c) => [c.name, c.providerConfigRef.name]));
  const rollout = stableHash(
    p.objects
      .filter((o) => o.kind === "RemoteStrimziPodSet")
      .flatMap((o) =>
        ((o.manifest["spec"] as { pods?: RemoteObject["manifest"][] } | undefined)?.pods ?? []).map(
          (pod) =>
            `${o.cluster}/${pod.metadata.name}=${pod.metadata.annotations?.[annotations.revision] ?? ""}`,
        ),
      )
      .sort(),
  );
  // metadata.version goes up once every node runs this change (Kafka checks too).
  // kraft.version too, for a static quorum migrating to dynamic.
  const current = everyNodeCurrent(observed, rollout);
  if (!spec.kafka.metrics && !current) p.objects.push(...metricsConfigInUse(observed, t));
  const finalize = current ? metadata.target : undefined;
  const phase = migrationPhase(quorum, current);
  const desiredResources: Record<string, Resource> = {};
  const perCluster = new Map<string, number>();
  for (const obj of p.objects) {
    const name = resourceName(obj);
    const mr: ManagedResource = managedResource(obj, {
      composite,
      kafkaName,
      providerConfig: providerConfigOf.get(obj.cluster) ?? "",
    });
    if (mr.kind === "RemoteStrimziPodSet")
      mr.metadata.annotations = { [annotations.rollout]: rollout };
    const admin = mr.spec.forProvider["kafkaAdmin"] as KafkaAdmin | undefined;
    if (admin && finalize) admin.metadataVersion = finalize;
    if (admin && current && quorum.raiseKRaftVersion) admin.kraftVersion = 1;
    const seen = observed[name];
    desiredResources[name] = {
      resource: mr,
      connectionDetails: {},
      ready: seen && isReady(seen) ? Ready.READY_TRUE : Ready.READY_FALSE,
    };
    perCluster.set(obj.cluster, (perCluster.get(obj.cluster) ?? 0) + 1);
  }

  const health = clusterHealth(t, observed, perCluster, p.bootstrapByCluster, p.externalBootstrap);
  const conds = conditions(t, health, p.pending, live, maintenance.evacuate, [
    ...removal.draining,
    ...voterRemoval.leaving.map((n) => ({ ...n, voter: true })),
  ]);
  const migrating = migratingCondition(phase, live);
  if (migrating) conds.push(migrating);
  const totalPods = health.reduce((s, h) => s + (h.pods?.total ?? 0), 0);
  const readyPods = health.reduce((s, h) => s + (h.pods?.ready ?? 0), 0);
  const clusterSet = providers[spec.networking.provider].clusterSetBootstrap({
    topology: t,
    networking: {
      ...spec.networking,
      clusterDomain: spec.networking.clusterDomain ?? "cluster.local",
      clusterSetDomain: spec.networking.clusterSetDomain ?? "clusterset.local",
    },
    observedService: () => undefined,
  });
  const allBootstrap = [...p.bootstrapByCluster.values()].join(",");
  const externalBootstrap = [...p.externalBootstrap.values()].join(",");
  const newStatus: StretchKafkaStatus = {
    summary: {
      clusters: `${health.filter((h) => h.ready).length}/${health.length}`,
      nodes: `${readyPods}/${totalPods}`,
    },
    clusterId,
    networkingProvider: spec.networking.provider,
    quorumMode: mode,
    ...(phase ? { quorumMigration: { phase } } : {}),
    nodeIds: allocation,
    clusters: health,
    kafka: {
      version: spec.kafka.version ?? defaultKafkaVersion,
      controllers: t.controllers.map((n) => n.id),
      brokers: t.brokers.map((n) => n.id),
      ...(mode === "dynamic" ? { bootstrapControllers } : {}),
      ...((clusterSet ?? allBootstrap) ? { bootstrapServers: clusterSet ?? allBootstrap } : {}),
      ...(externalBootstrap ? { externalBootstrapServers: externalBootstrap } : {}),
      ...(metadata.finalized ? { metadataVersion: metadata.finalized } : {}),
      ...(live ? { live } : {}),
      ...(removal.draining.length + voterRemoval.leaving.length > 0
        ? {
            removing: [
              ...removal.draining.map((n) => ({
                id: n.id,
                cluster: n.cluster,
                pool: n.pool,
                ...(n.replicas !== undefined ? { replicasLeft: n.replicas } : {}),
              })),
              ...voterRemoval.leaving.map((n) => ({
                id: n.id,
                cluster: n.cluster,
                pool: n.pool,
                voter: true,
              })),
            ],
          }
        : {}),
      ...(removal.retired.length > 0 ? { retiredBrokers: removal.retired } : {}),
      ...(maintenance.evacuate.length > 0 ? { evacuated: maintenance.evacuate } : {}),
      ...(maintenance.restoring.length > 0 ? { restoringLeadership: maintenance.restoring } : {}),
    },
  };
  const connection: Record<string, Buffer> = {};
  if (allBootstrap) connection["bootstrap.servers"] = Buffer.from(clusterSet ?? allBootstrap);
  if (externalBootstrap) connection["external.bootstrap.servers"] = Buffer.from(externalBootstrap);
  // The cluster CA clients must trust, once the provider has published it anywhere.
  const caMr = t.clusters
    .map((c) => observed[`${c.name}-secret-${caCertSecret(kafkaName)}`]?.status?.atProvider)
    .find((ap) => typeof ap?.["caCertificate"] === "string");
  if (caMr) connection["ca.crt"] = Buffer.from(caMr["caCertificate"] as string);
  connection["clusters"] = Buffer.from(
    JSON.stringify(
      Object.fromEntries(
        t.clusters.map((c) => [
          c.name,
          {
            rack: c.rack,
            bootstrapServers: p.bootstrapByCluster.get(c.name) ?? "",
            ...(p.externalBootstrap.has(c.name)
              ? { externalBootstrapServers: p.externalBootstrap.get(c.name) }
              : {}),
          },
        ]),
      ),
    ),
  );

  // Producer settings measured to keep throughput across inter-cluster latency.
  connection["producer.properties"] = Buffer.from(
    Object.entries(producerDefaults)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
  );

  const settled = health.every((h) => h.ready) && p.pending.length === 0;
  const results = [
    ...problemResults(problems),
    result(
      Severity.SEVERITY_NORMAL,
      `${t.nodes.length} nodes (${t.controllers.length} controllers, ${t.brokers.length} brokers) in ${t.clusters.length} clusters; ${Object.keys(desiredResources).length} managed resources`,
    ),
  ];
  return {
    meta: {
      tag: req.meta?.tag ?? "",
      ttl: { seconds: settled ? ttlSettled : ttlConverging, nanos: 0 },
    },
    desired: {
      composite: {
        resource: { apiVersion: xr.apiVersion, kind: xr.kind, status: newStatus },
        connectionDetails: connection,
        ready: Ready.READY_UNSPECIFIED,
      },
      resources: { ...(req.desired?.resources ?? {}), ...desiredResources },
    },
    results,
    context: req.context,
    requirements,
    conditions: conds.map(toCondition),
  };
}
