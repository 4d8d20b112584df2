/**
 * function-stretch-kafka: an XStretchKafka and what was observed in, every
 * managed resource of every remote cluster and the composite's status out.
 * Pure and deterministic: no clock, no randomness, no I/O, and nothing it
 * was given is changed. Its steps, each a module: the spec with its defaults
 * (spec.ts), what Crossplane fetched (requirements.ts), validation, the
 * decisions that ask Kafka first (removal.ts, upgrade.ts,
 * quorum-migration.ts), the plan of remote objects (plan.ts), the admin
 * channel (admin-channel.ts), the wrapping into managed resources
 * (managed.ts), and the composite's status and connection details
 * (status.ts, composite-status.ts).
 */
import {
  Ready,
  Severity,
  type Resource,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import { formatErrors, validate, type XStretchKafka } from "../../apis/index.ts";
import {
  adminChannel,
  adminFor,
  carried,
  formerBootstrapControllers,
  observedVoter,
} from "./admin-channel.ts";
import { compositeStatus, connectionDetails, type StatusInput } from "./composite-status.ts";
import { kafkaImage } from "./image.ts";
import { observedLive } from "./live.ts";
import { managedResource, resourceName } from "./managed.ts";
import { annotations, kafkaClusterId } from "./names.ts";
import { providers, type NetworkingContext } from "./networking/index.ts";
import { allocateNodeIds, withRetained } from "./node-ids.ts";
import { expandObjectSets, findRemote, isReady, type ObservedResources } from "./observed.ts";
import {
  askedShape,
  handOver,
  objectSets,
  remoteObjectsShape,
  setResourceName,
} from "./object-sets.ts";
import { metricsConfigInUse, plan } from "./plan.ts";
import { stableHash } from "./pod-template.ts";
import { migratingCondition, migrationPhase, quorumPlan } from "./quorum-migration.ts";
import { joiningBrokers, rebalanceRequest, rebalancingCondition } from "./rebalance.ts";
import { decideRemovals, decideVoterRemovals, lostNodesOf, nodeIdProblems } from "./removal.ts";
import {
  keptVolumes,
  missingProviderConfigs,
  providerConfigRequirements,
  recoveredAllocation,
  recoveredClusterId,
} from "./requirements.ts";
import { predecessorLeft, predecessorRequirements, waitForPredecessor } from "./predecessor.ts";
import type { RemoteObject } from "./resources/remote-object.ts";
import {
  problemResults,
  refuse,
  result,
  toCondition,
  ttlConverging,
  ttlSettled,
} from "./response.ts";
import {
  apiShape,
  connectionSecret,
  connectionSecretResource,
  isNamespacedXr,
  type ConfigRef,
} from "./shape.ts";
import { resolve } from "./spec.ts";
import { clusterHealth, conditions } from "./status.ts";
import { buildTopology } from "./topology.ts";
import { everyNodeCurrent, maintenancePlan, metadataPlan } from "./upgrade.ts";
import { validateChange, validateSpec, validateTopology } from "./validate.ts";

/** The observed composed resources as they are: a RemoteObjectSet is one of them. */
function observedAsComposed(req: RunFunctionRequest): ObservedResources {
  const out: ObservedResources = {};
  for (const [name, r] of Object.entries(req.observed?.resources ?? {})) out[name] = r.resource;
  return out;
}

/** A hash of every pod revision of the whole Kafka cluster (names.ts, `rollout`). */
function rolloutOf(objects: RemoteObject[]): string {
  return stableHash(
    objects
      .filter((o) => o.kind === "RemoteStrimziPodSet")
      .flatMap((o) =>
        ((o.manifest["spec"] as { pods?: RemoteObject["manifest"][] } | undefined)?.pods ?? []).map(
          (pod) =>
            `${o.cluster}/${pod.metadata.name}=${pod.metadata.annotations?.[annotations.revision] ?? ""}`,
        ),
      )
      .sort(),
  );
}

/** RunFunction: the whole function, in-process. */
export function compose(req: RunFunctionRequest): RunFunctionResponse {
  const raw = req.observed?.composite?.resource;
  if (!raw)
    return refuse(req, [
      result(Severity.SEVERITY_FATAL, "the request has no observed composite resource"),
    ]);
  const namespaced = isNamespacedXr(raw);
  const schemaCheck = validate(namespaced ? "NamespacedStretchKafka" : "XStretchKafka", raw);
  if (!schemaCheck.valid)
    return refuse(req, [
      result(Severity.SEVERITY_FATAL, `invalid composite: ${formatErrors(schemaCheck.errors)}`),
    ]);
  const xr = resolve(raw as XStretchKafka);
  const spec = xr.spec;
  const status = xr.status;
  const composite = xr.metadata.name ?? "";
  const api = apiShape(xr, namespaced);
  const kafkaName = api.kafkaName;
  const composed = observedAsComposed(req);
  // Every reader below sees a set's entries as the managed resources they stand for.
  const observed = expandObjectSets(composed);

  // Validation, and the decisions that ask Kafka first: nothing changes while any is fatal.
  // A composite that has composed nothing yet also looks for an earlier one of its claim (predecessor.ts).
  const fresh = Object.keys(composed).length === 0;
  const requirements = providerConfigRequirements(spec, observed, api);
  if (fresh)
    requirements.resources = {
      ...requirements.resources,
      ...predecessorRequirements(xr, kafkaName, namespaced),
    };
  // A v2 XR is always composed as sets: per object is the legacy shape only.
  const asked = namespaced
    ? { shape: "PerCluster" as const, problems: askedShape(req.input).problems }
    : askedShape(req.input);
  const problems = [
    ...asked.problems,
    ...validateSpec(spec, { kafkaName }),
    ...missingProviderConfigs(req, spec, api),
  ];
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
  const kept = status?.clusterId || status?.nodeIds ? {} : keptVolumes(req, spec, api.keptFor, api);
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
  // Clusters given up for good leave at once; what they held is re-created (removal.ts).
  const lostNodes = lostNodesOf(spec, status?.kafka?.removing, observed);
  const removal = decideRemovals(
    spec,
    previously(status?.kafka?.brokers),
    wantedTopology,
    live,
    status?.kafka?.retiredBrokers ?? [],
    lostNodes,
  );
  // Dynamic quorum: a controller leaves the voters before its pod goes.
  const controllersBefore = previously(status?.kafka?.controllers);
  const voterRemoval = decideVoterRemovals(
    spec,
    controllersBefore,
    wantedTopology,
    live,
    lostNodes,
  );
  problems.push(...removal.problems, ...voterRemoval.problems);
  const metadata = metadataPlan(spec, live);
  const maintenance = maintenancePlan(spec, status, live);
  const quorum = quorumPlan(spec, status, live);
  problems.push(...metadata.problems, ...quorum.problems);
  const allocation = withRetained(wanted, [
    ...removal.draining,
    ...voterRemoval.leaving.filter((n) => !n.lost),
  ]);
  const t = buildTopology(kafkaName, spec, allocation);
  problems.push(...validateTopology(spec, t, [...lostNodes.clusters]));
  problems.push(
    ...validateChange(
      spec,
      status,
      wantedTopology,
      controllersBefore.filter((c) => lostNodes.clusters.has(c.cluster)),
    ),
  );
  if (!kafkaImage(spec.kafka.version, spec.kafka.image)) {
    problems.push({
      severity: "fatal",
      field: "spec.kafka.image",
      message: `no Strimzi Kafka image is known for Kafka ${spec.kafka.version}; set spec.kafka.image or use Kafka 4.1, 4.2 or 4.3`,
    });
  }
  if (problems.some((p) => p.severity === "fatal"))
    return refuse(req, problemResults(problems), requirements);
  const waitFor = fresh ? predecessorLeft(req, xr, kafkaName, namespaced) : undefined;
  // Waiting, it needs nothing but the earlier composite's resources: a
  // ProviderConfig each of them writes as it goes would count against it too.
  if (waitFor)
    return waitForPredecessor(req, xr, waitFor, problemResults(problems), {
      ...requirements,
      resources: predecessorRequirements(xr, kafkaName, namespaced),
    });

  // The plan: every remote object of every cluster.
  const clusterId =
    status?.clusterId ??
    recoveredClusterId(observed) ??
    kept.clusterId ??
    kafkaClusterId(`stretch-kafka/cluster-id/${xr.metadata.uid ?? composite}`);
  const mode = quorum.mode;
  // A lost cluster's bootstrap controllers stay in the list with the address
  // they had, as long as one running controller is in it too.
  const clusterNames = t.clusters.map((c) => c.name);
  const formerBootstrap = formerBootstrapControllers({
    had: status?.kafka?.formerBootstrapControllers ?? [],
    bootstrap: status?.kafka?.bootstrapControllers ?? [],
    lost: voterRemoval.leaving.filter((n) => n.lost).map((n) => n.id),
    observed,
    clusters: clusterNames,
    kafkaName,
  });
  const recorded =
    status?.kafka?.bootstrapControllers?.filter((id) => t.controllers.some((c) => c.id === id)) ??
    [];
  const bootstrapControllers =
    recorded.length === 0
      ? t.controllers.map((c) => c.id)
      : (status?.kafka?.bootstrapControllers ?? []).filter(
          (id) => recorded.includes(id) || formerBootstrap.some((f) => f.id === id),
        );
  const formerKept = recorded.length === 0 ? [] : formerBootstrap;
  const provider = providers[spec.networking.provider];
  const ctx: NetworkingContext = {
    topology: t,
    networking: spec.networking,
    observedService: (cluster, name) =>
      findRemote(observed, cluster, "RemoteService", name)?.status?.atProvider,
  };
  const p = plan({
    spec,
    composite,
    t,
    observed,
    networking: { provider, ctx },
    clusterId,
    mode,
    bootstrapControllers,
    formerBootstrap: formerKept,
    initialControllers: quorum.phase === undefined,
  });
  const rollout = rolloutOf(p.objects);
  // metadata.version goes up once every node runs this change (Kafka checks too).
  // kraft.version too, for a static quorum migrating to dynamic.
  const current = everyNodeCurrent(observed, rollout);
  const objects = [
    ...p.objects,
    ...(!spec.kafka.metrics && !current ? metricsConfigInUse(observed, t) : []),
  ];
  const perCluster = new Map<string, number>();
  for (const o of objects) perCluster.set(o.cluster, (perCluster.get(o.cluster) ?? 0) + 1);
  const health = clusterHealth(t, observed, perCluster, p.bootstrapByCluster, p.externalBootstrap);
  const phase = migrationPhase(quorum, current);
  // Rebalances (brokers that joined, or one someone asked for) move data only
  // once nothing else moves data or restarts nodes.
  const busy = [
    ...removal.draining.map((n) => `the drain of broker ${n.id} is done`),
    ...removal.lost.map((n) => `the replicas of lost broker ${n.id} are re-created`),
    ...voterRemoval.leaving.map((n) => `controller ${n.id} has left the voters`),
    ...maintenance.evacuate.map((c) => `the maintenance of cluster ${c} is over`),
    ...maintenance.restoring.map((c) => `leadership is back in cluster ${c}`),
    ...(phase ? [`the quorum migration (${phase}) is done`] : []),
    ...(p.pending.length > 0 ? ["every node's address is known"] : []),
    ...(current ? [] : ["every node runs the current definition"]),
    // One clause for all of them: naming the first cluster not ready changed
    // the carrier's admin channel as each became ready, each change a write
    // of its set and a watch event Crossplane's XR circuit breaker counts.
    ...(health.some((h) => !h.ready) ? ["every cluster is ready"] : []),
  ];
  const joining = joiningBrokers({
    spec,
    t,
    brokersBefore: status?.kafka?.brokers,
    joiningBefore: status?.kafka?.joiningBrokers ?? [],
    live,
    busy,
  });
  const admin = adminChannel({
    composite,
    spec,
    t,
    addresses: p.addresses,
    mode,
    drain: [...removal.draining, ...removal.lost].map((n) => n.id),
    retiredBrokers: removal.retired,
    leavingVoters: voterRemoval.leaving.map((n) => n.id),
    // Until status has a lost bootstrap controller's address, the voters keep it.
    keptVoters: formerBootstrap
      .filter((f) => !(status?.kafka?.formerBootstrapControllers ?? []).some((h) => h.id === f.id))
      .flatMap((f) => {
        const v = observedVoter(observed, clusterNames, kafkaName, f.id);
        return v ? [v] : [];
      }),
    evacuate: maintenance.evacuate,
    restoreLeadership: maintenance.restoring,
    metadataVersion: current ? metadata.target : undefined,
    kraftVersion: current && quorum.raiseKRaftVersion ? 1 : undefined,
    rebalance: rebalanceRequest(spec, joining),
    movesWaitFor: busy[0],
  });
  const adminOf = adminFor(admin, { observed, kafkaName, pending: p.pending.length > 0 });

  // Managed resources: one per remote object, or one set per remote cluster (ADR 0026).
  const providerConfigOf = new Map(spec.clusters.map((c) => [c.name, c.providerConfigRef.name]));
  // The carrier of the admin channel's changing parts: the first cluster by
  // name, so that reordering spec.clusters changes nothing.
  const carrier = objects
    .filter((o) => o.kind === "RemoteKafka")
    .map((o) => o.cluster)
    .sort()[0];
  const managed = objects.map((o) => {
    const admin = o.kind === "RemoteKafka" ? adminOf(o.cluster) : undefined;
    const kafkaAdmin = admin ? carried(admin, o.cluster === carrier) : undefined;
    const mr = managedResource(kafkaAdmin ? { ...o, kafkaAdmin } : o, {
      composite,
      kafkaName,
      providerConfig: providerConfigOf.get(o.cluster) ?? "",
      ...(o.kind === "RemoteStrimziPodSet"
        ? { annotations: { [annotations.rollout]: rollout } }
        : {}),
    });
    return { name: resourceName(o), cluster: o.cluster, mr };
  });
  const recordedShape = remoteObjectsShape({
    recorded: status?.remoteObjects,
    observed: composed,
    clusterId: status?.clusterId,
    asked: asked.shape,
  });
  const settled = health.every((h) => h.ready) && p.pending.length === 0;
  const handing = handOver({
    recorded: recordedShape,
    asked: asked.shape,
    settled,
    managed,
    observed: composed,
  });
  const shape = handing.phase === "sets" ? "PerCluster" : recordedShape;
  const desiredResources: Record<string, Resource> = {};
  const add = (name: string, resource: Resource["resource"], ready?: boolean): void => {
    const seen = composed[name];
    desiredResources[name] = {
      resource,
      connectionDetails: {},
      ready: (ready ?? (seen && isReady(seen))) ? Ready.READY_TRUE : Ready.READY_FALSE,
    };
  };
  // Each cluster's set names its config as the XR does (a v2 XR gives the kind too).
  const refOfSet = new Map<string, ConfigRef>(
    spec.clusters.map((c) => [setResourceName(c.name), c.providerConfigRef]),
  );
  // A cluster's set is ready when its cluster is (status.clusters[].ready): the
  // set's own Ready condition stays True at the generation before a change
  // until the provider has looked at the new one (a scaled pool's new pod not
  // even created yet), which made the composite Ready while a cluster still
  // converged, and its Ready turn apart from Degraded, in writes of their
  // own, each a watch event Crossplane's XR circuit breaker counts (ADR 0026).
  const healthOfSet = new Map(health.map((h) => [setResourceName(h.name), h.ready]));
  if (shape === "PerCluster")
    for (const [name, set] of objectSets(managed, composite))
      add(
        name,
        api.set(set, refOfSet.get(name) ?? set.spec.providerConfigRef),
        healthOfSet.get(name),
      );
  else if (handing.phase === "orphaning" || handing.phase === "sets")
    for (const { name, mr } of managed)
      add(name, { ...mr, spec: { ...mr.spec, deletionPolicy: "Orphan" } });
  else for (const { name, mr } of managed) add(name, mr);

  // Status, conditions and connection details.
  const conds = conditions(t, health, p.pending, live, maintenance.evacuate, [
    ...removal.draining,
    ...removal.lost,
    ...voterRemoval.leaving.map((n) => ({ ...n, voter: true })),
  ]);
  conds.push(rebalancingCondition(joining, live));
  const migrating = migratingCondition(phase, live);
  if (migrating) conds.push(migrating);
  const summary: StatusInput = {
    spec,
    t,
    plan: p,
    health,
    clusterId,
    remoteObjects: shape,
    mode,
    migrationPhase: phase,
    allocation,
    bootstrapControllers,
    formerBootstrap: formerKept,
    clusterSetBootstrap: provider.clusterSetBootstrap({
      ...ctx,
      observedService: () => undefined,
    }),
    finalizedMetadata: metadata.finalized,
    live,
    draining: [...removal.draining, ...removal.lost],
    leavingVoters: voterRemoval.leaving,
    retired: removal.retired,
    evacuate: maintenance.evacuate,
    restoring: maintenance.restoring,
    joining: joining.brokers,
  };
  const results = [
    ...problemResults(problems),
    ...(handing.message ? [result(Severity.SEVERITY_NORMAL, handing.message)] : []),
    result(
      Severity.SEVERITY_NORMAL,
      `${t.nodes.length} nodes (${t.controllers.length} controllers, ${t.brokers.length} brokers) in ${t.clusters.length} clusters; ${Object.keys(desiredResources).length} managed resources${shape === "PerCluster" ? ` (${managed.length} remote objects)` : ""}`,
    ),
  ];
  const details = connectionDetails(summary, observed);
  // A v2 XR has no connection details: its Secret is composed (shape.ts),
  // ready once it exists.
  if (namespaced)
    desiredResources[connectionSecretResource] = {
      resource: connectionSecret(xr, details),
      connectionDetails: {},
      ready: composed[connectionSecretResource] ? Ready.READY_TRUE : Ready.READY_FALSE,
    };
  const resources = { ...(req.desired?.resources ?? {}), ...desiredResources };
  return {
    meta: {
      tag: req.meta?.tag ?? "",
      ttl: { seconds: settled ? ttlSettled : ttlConverging, nanos: 0 },
    },
    desired: {
      composite: {
        resource: { apiVersion: xr.apiVersion, kind: xr.kind, status: compositeStatus(summary) },
        connectionDetails: namespaced ? {} : details,
        ready: compositeReadiness(resources),
      },
      resources,
    },
    results,
    context: req.context,
    requirements,
    conditions: conds.map(toCondition),
  };
}

/**
 * The composite's readiness, stated: what Crossplane would derive (every
 * composed resource ready), without the message it would write with it.
 * Crossplane's derived Ready lists the unready resources ("Unready
 * resources: …"), so each one turning Ready rewrites the composite about
 * three times, and each write is a watch event its circuit breaker counts
 * (ADR 0026); what each cluster waits for is in `Degraded` and
 * `status.clusters[]`. Resources an earlier step composed without a stated
 * readiness leave it to Crossplane.
 */
export function compositeReadiness(resources: Record<string, Resource>): Ready {
  const all = Object.values(resources);
  if (all.some((r) => r.ready === Ready.READY_UNSPECIFIED)) return Ready.READY_UNSPECIFIED;
  return all.every((r) => r.ready === Ready.READY_TRUE) ? Ready.READY_TRUE : Ready.READY_FALSE;
}
