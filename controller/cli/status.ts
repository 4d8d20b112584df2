/**
 * `stretch-kafka status NAME [-n NAMESPACE]`: a claim at a glance, as a tree:
 * claim → clusters → pools → pods ready, with every condition that is not
 * as it should be and its message.
 */
import { groups, labels, type KafkaLive, type QuorumMember } from "../../apis/index.ts";
import type { DynamicClient, KubeObject } from "../kube/dynamic.ts";
import { describeError, isNotFound } from "../kube/errors.ts";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface ClusterStatus {
  name: string;
  reachable?: boolean;
  synced?: boolean;
  ready?: boolean;
  message?: string;
  rack?: string;
  bootstrapServers?: string;
  unreachableSince?: string;
  pods?: {
    total: number;
    ready?: number;
    current?: number;
    lastSeen?: { ready?: number; current?: number };
  };
}

/** A cluster's pods: counted when it answers, as last seen (never as ready) when it does not. */
function podsLine(c: ClusterStatus): string {
  if (!c.pods) return "";
  const total = String(c.pods.total);
  if (c.reachable === false || c.pods.ready === undefined)
    return `pods ?/${total} ready (${String(c.pods.lastSeen?.ready ?? "?")}/${total} when last seen${c.unreachableSince ? `, before ${c.unreachableSince}` : ""})`;
  return `pods ${String(c.pods.ready)}/${total} ready`;
}

interface ClaimView extends KubeObject {
  spec: { resourceRef?: { name: string } };
  status?: {
    conditions?: Condition[];
    clusterId?: string;
    quorumMode?: string;
    quorumMigration?: { phase?: string };
    summary?: { clusters?: string; nodes?: string };
    clusters?: ClusterStatus[];
    kafka?: {
      version?: string;
      bootstrapServers?: string;
      controllers?: number[];
      brokers?: number[];
      live?: KafkaLive;
    };
  };
}

/** Kafka's own view, as the provider's admin channel last saw it. */
function liveLines(live: KafkaLive | undefined): string[] {
  if (!live) return ["  Kafka says: not asked yet"];
  if (!live.reachable) return [`  Kafka says: unreachable: ${live.message ?? ""}`];
  const q = live.quorum ?? {};
  const member = (m: QuorumMember): string =>
    `${String(m.id)}${m.cluster ? `@${m.cluster}` : ""}` +
    (m.caughtUp
      ? ""
      : ` (behind${m.lag !== undefined ? ` ${String(m.lag)} records` : ""}${m.lastContactSeconds !== undefined ? `, last contact ${String(m.lastContactSeconds)}s ago` : ""})`);
  const brokers = live.brokers ?? [];
  const missing = brokers.filter((b) => b.state !== "Registered");
  const p = live.partitions ?? {};
  const features = Object.entries(live.features ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");
  return [
    `  Kafka says: leader ${String(q.leaderId ?? "?")} (epoch ${String(q.leaderEpoch ?? "?")}), voters ${(q.voters ?? []).map(member).join(", ")}`,
    `    brokers registered ${String(brokers.length - missing.length)}/${String(brokers.length)}` +
      (missing.length > 0
        ? ` (not: ${missing.map((b) => `${String(b.id)}@${b.cluster} ${b.state.toLowerCase()}`).join(", ")})`
        : "") +
      `; partitions ${String(p.total ?? 0)}, under-replicated ${String(p.underReplicated ?? 0)}, under min ISR ${String(p.underMinIsr ?? 0)}${p.minIsrUnknown ? `, min ISR unknown ${String(p.minIsrUnknown)}` : ""}, offline ${String(p.offline ?? 0)}` +
      (p.reassigning ? `, reassigning ${String(p.reassigning)}` : ""),
    ...(features ? [`    features ${features}`] : []),
    ...(live.drain
      ? [
          `    draining brokers ${live.drain.nodes?.join(", ") ?? ""}: ${String(live.drain.replicasLeft ?? "?")} replica(s) left` +
            (live.drain.stuck?.length ? `; cannot move ${live.drain.stuck.join("; ")}` : ""),
        ]
      : []),
    ...(live.nodeDrain ? [nodeDrainLine(live.nodeDrain)] : []),
    ...(live.rebalance ? [rebalanceLine(live.rebalance)] : []),
    ...(live.evacuation
      ? [
          `    maintenance ${live.evacuation.clusters?.join(", ") ?? ""}: ${live.evacuation.safe ? "safe to take down" : `not yet: ${String(live.evacuation.leadersLeft ?? "?")} partition(s) led there, ${String(live.evacuation.belowMinIsrWithout ?? "?")} below min ISR without it${live.evacuation.quorumKeepsMajority === false ? ", quorum majority there" : ""}`}`,
        ]
      : []),
    ...(live.operationErrors ?? []).map((e) => `    Kafka refused (${e.operation}): ${e.message}`),
    ...(live.dataAtRisk ?? []).map(
      (r) => `    at risk: ${r.topic}: losing ${r.cluster}: ${r.reason}`,
    ),
  ];
}

/** Kafka pods on cordoned nodes: the one being moved, and why it waits. */
function nodeDrainLine(d: NonNullable<KafkaLive["nodeDrain"]>): string {
  const since = d.since ? ` since ${d.since}` : "";
  return (
    `    node drain: Kafka pods on cordoned nodes ${d.pods.length > 0 ? d.pods.join(", ") : "none left"}; ` +
    (d.state === "Released"
      ? `${d.pod ?? "?"} released for eviction${since}`
      : d.state === "Evicted"
        ? `${d.pod ?? "?"} evicted${since}: ${d.message ?? ""}`
        : d.pod
          ? `moving ${d.pod} waits${since}: ${d.message ?? ""}`
          : `waiting${since}: ${d.message ?? ""}`)
  );
}

/** Brokers that joined taking their share: the state, and what is left of the plan. */
function rebalanceLine(r: NonNullable<KafkaLive["rebalance"]>): string {
  const spread = (x: { now?: number; planned?: number } | undefined): string =>
    x ? `${String(x.now ?? "?")} → ${String(x.planned ?? "?")}` : "?";
  return (
    `    rebalance onto brokers ${r.brokers.join(", ")}: ${r.state.toLowerCase()}` +
    (r.message ? ` (${r.message})` : "") +
    (r.state === "Waiting"
      ? ""
      : `; ${String(r.partitionsToMove ?? 0)} partition(s) to move` +
        (r.bytesToMove !== undefined ? ` (${String(r.bytesToMove)} bytes)` : "") +
        `, ${String(r.leadersToChange ?? 0)} leader(s) to change, replica spread ${spread(r.replicaSpread)}, leader spread ${spread(r.leaderSpread)}`)
  );
}

interface RebalanceRequest extends KubeObject {
  spec: { kafkaRef: { name: string }; mode?: string; brokers?: number[] };
  status?: {
    state?: string;
    conditions?: Condition[];
    proposal?: { partitionsToMove?: number; bytesToMove?: number; estimatedSeconds?: number };
    progress?: { partitionsToMove?: number; movingNow?: number; waitingFor?: string };
  };
}

/** The claim's KafkaRebalances not done yet: their state and what their Ready condition says. */
async function rebalanceRequestLines(
  central: DynamicClient,
  claim: string,
  namespace: string,
): Promise<string[]> {
  let all: RebalanceRequest[];
  try {
    all = (await central.list<RebalanceRequest>(groups.composite, "KafkaRebalance", { namespace }))
      .items;
  } catch (err) {
    // An install without the KafkaRebalance kind has none; anything else is said.
    if (isNotFound(err)) return [];
    return [`  KafkaRebalances could not be listed: ${describeError(err)}`];
  }
  return all
    .filter((r) => r.spec.kafkaRef.name === claim && r.status?.state !== "Ready")
    .map((r) => {
      const st = r.status ?? {};
      const ready = st.conditions?.find((c) => c.type === "Ready");
      const p = st.proposal;
      const figures =
        st.state === "ProposalReady" && p
          ? `; proposal: ${String(p.partitionsToMove ?? 0)} partition(s)` +
            (p.bytesToMove !== undefined ? `, ${String(p.bytesToMove)} bytes` : "") +
            (p.estimatedSeconds !== undefined ? `, about ${String(p.estimatedSeconds)}s` : "")
          : st.progress
            ? `; ${String(st.progress.partitionsToMove ?? "?")} partition(s) left, ${String(st.progress.movingNow ?? 0)} moving`
            : "";
      const brokers = r.spec.brokers?.length ? ` brokers ${r.spec.brokers.join(", ")}` : "";
      return `  KafkaRebalance ${r.metadata.name ?? ""} (${r.spec.mode ?? "full"}${brokers}): ${st.state ?? "New"}${ready?.message ? ` (${ready.message})` : ""}${figures}`;
    });
}

type PodCounts = { pods?: number; readyPods?: number; currentPods?: number };
type PodSetManifest = { metadata: { name: string; labels?: Record<string, string> } };

interface PodSetMr extends KubeObject {
  spec: { forProvider: { manifest: PodSetManifest } };
  status?: { atProvider?: PodCounts };
}

interface ObjectSetMr extends KubeObject {
  spec: {
    forProvider: {
      objects: { name: string; kind: string; forProvider: { manifest: PodSetManifest } }[];
    };
  };
  status?: { atProvider?: { objects?: { name: string; atProvider?: PodCounts }[] } };
}

/** A pool's podset in one cluster, whether its own managed resource or an entry of its cluster's set. */
interface PodSetView {
  cluster: string;
  manifest: PodSetManifest;
  counts: PodCounts;
}

async function podSetsOf(central: DynamicClient, xr: string): Promise<PodSetView[]> {
  const selector = { labelSelector: `${labels.crossplaneComposite}=${xr}` };
  const [own, sets] = await Promise.all([
    central.list<PodSetMr>(groups.remote, "RemoteStrimziPodSet", selector),
    central.list<ObjectSetMr>(groups.remote, "RemoteObjectSet", selector),
  ]);
  return [
    ...own.items.map((p) => ({
      cluster: p.metadata.labels?.[labels.stretchCluster] ?? "",
      manifest: p.spec.forProvider.manifest,
      counts: p.status?.atProvider ?? {},
    })),
    ...sets.items.flatMap((set) =>
      set.spec.forProvider.objects
        .filter((e) => e.kind === "RemoteStrimziPodSet")
        .map((e) => ({
          cluster: set.metadata.labels?.[labels.stretchCluster] ?? "",
          manifest: e.forProvider.manifest,
          counts: set.status?.atProvider?.objects?.find((o) => o.name === e.name)?.atProvider ?? {},
        })),
    ),
  ];
}

/** Conditions that read well when True (Ready, Synced) versus those that are bad news when True. */
const goodWhenTrue = new Set(["Ready", "Synced"]);
const healthy = (c: Condition): boolean => (c.status === "True") === goodWhenTrue.has(c.type);

export async function claimStatus(
  central: DynamicClient,
  name: string,
  namespace: string,
): Promise<string> {
  const claim = await central.find<ClaimView>(groups.composite, "StretchKafka", name, namespace);
  if (!claim)
    return `no StretchKafka ${namespace}/${name}: list them with kubectl get stretchkafkas -A`;
  const s = claim.status ?? {};
  const xr = claim.spec.resourceRef?.name;
  const podSets = xr ? await podSetsOf(central, xr) : [];
  const conds = s.conditions ?? [];
  const mark = (ok: boolean | undefined): string => (ok ? "✓" : "✗");
  const lines: string[] = [];
  const headline = conds
    .filter((c) => goodWhenTrue.has(c.type) || c.status === "True")
    .map((c) => `${c.type}=${c.status}`)
    .join("  ");
  lines.push(`StretchKafka ${namespace}/${name}  ${headline || "(no status yet)"}`);
  for (const c of conds.filter((x) => !healthy(x))) {
    lines.push(`  ! ${c.type}=${c.status} ${c.reason ?? ""}: ${c.message ?? ""}`.trimEnd());
  }
  if (xr) lines.push(`  composite ${xr}${s.clusterId ? `  cluster id ${s.clusterId}` : ""}`);
  if (s.kafka) {
    lines.push(
      `  Kafka ${s.kafka.version ?? ""}: ${String(s.kafka.controllers?.length ?? 0)} controllers${s.quorumMode ? ` (${s.quorumMode} quorum${s.quorumMigration?.phase && s.quorumMigration.phase !== "Done" ? `, migrating: ${s.quorumMigration.phase}` : ""})` : ""}, ${String(s.kafka.brokers?.length ?? 0)} brokers; nodes ready ${s.summary?.nodes ?? "?"}`,
    );
    if (s.kafka.bootstrapServers) lines.push(`  bootstrap ${s.kafka.bootstrapServers}`);
    lines.push(...liveLines(s.kafka.live));
  }
  lines.push(...(await rebalanceRequestLines(central, name, namespace)));
  const clusters = s.clusters ?? [];
  clusters.forEach((c, i) => {
    const lastCluster = i === clusters.length - 1;
    const pods = podsLine(c);
    lines.push(
      `  ${lastCluster ? "└─" : "├─"} ${c.name.padEnd(10)} ${mark(c.reachable)} reachable  ${mark(c.synced)} synced  ${mark(c.ready)} ready  ${pods}${c.rack ? `  rack ${c.rack}` : ""}`,
    );
    const bar = lastCluster ? "   " : "│  ";
    if (c.message) lines.push(`  ${bar}  ${c.message}`);
    const pools = podSets
      .filter((p) => p.cluster === c.name)
      .sort((a, b) => a.manifest.metadata.name.localeCompare(b.manifest.metadata.name));
    pools.forEach((p, j) => {
      const m = p.manifest.metadata;
      const ap = p.counts;
      const pool = m.labels?.[labels.poolName] ?? m.name;
      const counts = `${String(ap.readyPods ?? 0)}/${String(ap.pods ?? 0)} pods ready, ${String(ap.currentPods ?? 0)} current`;
      lines.push(
        `  ${bar}${j === pools.length - 1 ? "└─" : "├─"} ${pool.padEnd(14)} ${c.reachable === false ? `as last seen: ${counts}` : counts}`,
      );
    });
  });
  return lines.join("\n");
}
