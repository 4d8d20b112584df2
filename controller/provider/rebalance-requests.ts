/**
 * KafkaRebalances: rebalances people ask for, shaped like Strimzi's
 * KafkaRebalance (docs/adr/0021). Each names its claim (`spec.kafkaRef`, same
 * namespace) and goes through Strimzi's states:
 *
 *   New → ProposalReady: planned from Kafka's view and the replica sizes
 *     (DescribeLogDirs); the proposal (moves, bytes, balance before and after,
 *     time at the throttle) is in the status before anything moves. Refused
 *     input (a broker the claim does not have, a cluster left without a broker)
 *     is NotReady, saying what to fix; nothing moves.
 *   ProposalReady → Rebalancing: on the annotation `stretchkafka.dev/rebalance:
 *     approve` (or `stretchkafka.dev/rebalance-auto-approval: "true"`). The
 *     provider's Kafka supervisor carries it out a batch at a time, each batch
 *     planned again from what Kafka says then, never beside a drain, roll,
 *     maintenance or quorum change the function reports
 *     (`kafkaAdmin.movesWaitFor`), nor beside brokers that joined taking their
 *     share; one rebalance per Kafka cluster at a time.
 *   Rebalancing → Ready when nothing is left to move; → Stopped on
 *     `stretchkafka.dev/rebalance: stop` (no new batch; the one copying
 *     finishes, so every partition keeps a whole replica set); → NotReady when
 *     Kafka refuses.
 *   ProposalReady, Stopped, Ready, NotReady → PendingProposal on `refresh`
 *     (proposed again); ProposalReady is proposed again when the spec
 *     changes. While Kafka cannot be asked the state is PendingProposal and
 *     the proposal is retried with backoff.
 *
 * An annotation is removed once acted on (`refresh` at once), `stop` once
 * Stopped (so a restarted provider still knows it was asked to stop).
 */
import type { Logger } from "pino";
import {
  groups,
  type KafkaAdmin,
  type KafkaRebalance,
  type KafkaRebalanceStatus,
} from "../../apis/index.ts";
import { withDefaults } from "../../apis/validation.ts";
import type { AdminSession } from "../kafka/admin.ts";
import { kafkaReason } from "../kafka/admin.ts";
import { planRebalance } from "../kafka/balance.ts";
import type { DynamicClient } from "../kube/dynamic.ts";
import type { EventRecorder } from "../kube/events.ts";
import {
  claimOf,
  cond,
  Waiting,
  writeObjectStatus,
  type Claim,
  type Cond,
} from "./claim-objects.ts";
import type { KafkaSupervisor, RequestedRebalance } from "./kafka-supervisor.ts";

export const rebalanceAnnotation = "stretchkafka.dev/rebalance";
export const autoApprovalAnnotation = "stretchkafka.dev/rebalance-auto-approval";

type State = NonNullable<KafkaRebalanceStatus["state"]>;
const states: State[] = [
  "New",
  "PendingProposal",
  "ProposalReady",
  "Rebalancing",
  "Stopped",
  "Ready",
  "NotReady",
];
type Proposal = NonNullable<KafkaRebalanceStatus["proposal"]>;

export interface RebalanceDeps {
  central: DynamicClient;
  kafka: Pick<KafkaSupervisor, "session" | "admin" | "request" | "requested" | "progressOf">;
  events: Pick<EventRecorder, "record">;
  now: () => string;
  log: Logger;
}

/** A refusal of the request itself: NotReady, saying what to fix. */
class Refused extends Error {}

export class RebalanceRequests {
  /** Which composite each request key was handed to, to take it back when the object goes. */
  private readonly handed = new Map<string, string>();

  constructor(private readonly deps: RebalanceDeps) {}

  async reconcile(namespace: string, name: string): Promise<void> {
    const key = `${namespace}/${name}`;
    const obj = await this.deps.central.find<KafkaRebalance>(
      groups.composite,
      "KafkaRebalance",
      name,
      namespace,
    );
    if (!obj || obj.metadata.deletionTimestamp) {
      this.release(key);
      return;
    }
    const state: State = obj.status?.state ?? "New";
    const action = obj.metadata.annotations?.[rebalanceAnnotation];
    let found: Awaited<ReturnType<typeof claimOf>>;
    try {
      found = await claimOf(
        { central: this.deps.central, admin: (c) => this.deps.kafka.admin(c) },
        obj,
      );
    } catch (err) {
      if (!(err instanceof Waiting)) throw err;
      if (state !== "Rebalancing") this.release(key);
      await this.write(obj, state, {}, [cond("Ready", false, err.reason, err.message)]);
      return;
    }
    const { claim, composite, admin } = found;
    const settings = goalOf(obj, claim);
    const stale =
      state === "ProposalReady" && obj.status?.observedGeneration !== obj.metadata.generation;
    if (
      state === "New" ||
      state === "PendingProposal" ||
      stale ||
      (action === "refresh" && state !== "Rebalancing")
    ) {
      // Refresh is taken at once; until a proposal is made the state says PendingProposal.
      if (action === "refresh") await this.clearAction(obj);
      await this.propose(obj, composite, admin, settings);
      return;
    }
    if (state === "ProposalReady") {
      const approved =
        action === "approve" || obj.metadata.annotations?.[autoApprovalAnnotation] === "true";
      if (!approved) return;
      const other = this.deps.kafka.requested(composite);
      if (!this.deps.kafka.request(composite, { key, ...settings, stop: false })) {
        await this.write(obj, state, { proposal: obj.status?.proposal }, [
          cond(
            "Ready",
            false,
            "WaitingForOtherRebalance",
            `approved; KafkaRebalance ${other?.key ?? "?"} is rebalancing this Kafka cluster, this one starts after it`,
          ),
        ]);
        return;
      }
      this.handed.set(key, composite);
      await this.write(obj, "Rebalancing", { proposal: obj.status?.proposal }, [
        cond("Ready", false, "Rebalancing", "approved; replicas move a batch at a time"),
      ]);
      if (action === "approve") await this.clearAction(obj);
      return;
    }
    if (state !== "Rebalancing") return;
    await this.follow(obj, key, composite, settings, action === "stop");
  }

  /** A Rebalancing request: handed to the supervisor (again, after a restart), its progress into the status. */
  private async follow(
    obj: KafkaRebalance,
    key: string,
    composite: string,
    settings: Goal,
    stop: boolean,
  ): Promise<void> {
    const had = this.deps.kafka.requested(composite);
    if (
      !had ||
      had.key !== key ||
      had.stop !== stop ||
      had.throttleBytesPerSecond !== settings.throttleBytesPerSecond ||
      had.maxPartitionMoves !== settings.maxPartitionMoves
    ) {
      if (!this.deps.kafka.request(composite, { key, ...settings, stop })) {
        await this.write(obj, "Rebalancing", { proposal: obj.status?.proposal }, [
          cond(
            "Ready",
            false,
            "WaitingForOtherRebalance",
            `KafkaRebalance ${had?.key ?? "?"} is rebalancing this Kafka cluster, this one goes on after it`,
          ),
        ]);
        return;
      }
      this.handed.set(key, composite);
    }
    const p = this.deps.kafka.progressOf(key);
    if (!p) return;
    // What is left is kept from the last round that planned, while stopping or waiting.
    const was = obj.status?.progress ?? {};
    const left = {
      partitionsToMove: p.partitionsToMove ?? was.partitionsToMove,
      leadersToChange: p.leadersToChange ?? was.leadersToChange,
      bytesToMove: p.bytesToMove ?? was.bytesToMove,
      movingNow: p.movingNow ?? 0,
      waitingFor: p.waitingFor,
    };
    const fields = {
      proposal: obj.status?.proposal,
      progress: Object.fromEntries(Object.entries(left).filter(([, v]) => v !== undefined)),
    };
    if (p.state === "Done") {
      this.release(key);
      await this.write(obj, "Ready", fields, [
        cond("Ready", true, "Rebalanced", "nothing is left to move; preferred leaders elected"),
      ]);
      return;
    }
    if (p.state === "Stopped") {
      this.release(key);
      await this.write(obj, "Stopped", fields, [
        cond(
          "Ready",
          false,
          "Stopped",
          `stopped with ${String(p.partitionsToMove ?? "?")} partition(s) left to move; annotate refresh to propose again`,
        ),
      ]);
      await this.clearAction(obj);
      return;
    }
    if (p.state === "Failed") {
      this.release(key);
      await this.write(obj, "NotReady", fields, [
        cond("Ready", false, "KafkaRefused", `Kafka refused: ${p.message ?? ""}`),
      ]);
      return;
    }
    await this.write(obj, "Rebalancing", fields, [
      cond(
        "Ready",
        false,
        p.state === "Waiting" ? "Waiting" : "MovingReplicas",
        p.message ?? "replicas move a batch at a time",
      ),
    ]);
  }

  /** Plans from Kafka's view now: ProposalReady with the proposal, or NotReady saying what to fix. */
  private async propose(
    obj: KafkaRebalance,
    composite: string,
    admin: KafkaAdmin,
    goal: Goal,
  ): Promise<void> {
    let proposal: Proposal;
    try {
      proposal = await this.withSession(composite, (s) => this.plan(s, admin, goal));
    } catch (err) {
      if (err instanceof Refused) {
        await this.write(obj, "NotReady", {}, [cond("Ready", false, "Refused", err.message)]);
        return;
      }
      // Not the request's fault: proposed again with backoff, never left NotReady for it.
      await this.write(obj, "PendingProposal", {}, [
        cond("Ready", false, "KafkaUnreachable", `Kafka could not be asked: ${kafkaReason(err)}`),
      ]);
      throw err;
    }
    await this.write(obj, "ProposalReady", { proposal }, [
      cond(
        "Ready",
        false,
        "ProposalReady",
        proposal.partitionsToMove === 0 && proposal.leadersToChange === 0
          ? "nothing to move; approve to elect preferred leaders"
          : `${String(proposal.partitionsToMove)} partition(s) to move, ${String(proposal.leadersToChange)} leader(s) to change; annotate ${rebalanceAnnotation}=approve to start`,
      ),
    ]);
  }

  private async plan(session: AdminSession, admin: KafkaAdmin, goal: Goal): Promise<Proposal> {
    const view = await session.view();
    const clusterOf = new Map(admin.nodes.map((n) => [n.id, n.cluster]));
    const brokerNodes = admin.nodes.filter((n) => n.roles.includes("broker"));
    const unknown = goal.brokers.filter((id) => !brokerNodes.some((n) => n.id === id));
    if (unknown.length > 0)
      throw new Refused(
        `spec.brokers: ${unknown.join(", ")} ${unknown.length > 1 ? "are not brokers" : "is not a broker"} of this Kafka cluster (its brokers: ${brokerNodes.map((n) => n.id).join(", ")})`,
      );
    const brokers = view.brokers.filter((b) => !b.fenced && clusterOf.has(b.id)).map((b) => b.id);
    if (goal.mode === "add-brokers") {
      const absent = goal.brokers.filter((id) => !brokers.includes(id));
      if (absent.length > 0)
        throw new Refused(
          `spec.brokers: broker ${absent.join(", ")} is not registered and unfenced in Kafka; annotate ${rebalanceAnnotation}=refresh once it runs`,
        );
    }
    if (goal.mode === "remove-brokers") {
      for (const cluster of new Set(brokerNodes.map((n) => n.cluster))) {
        const staying = brokerNodes.filter(
          (n) => n.cluster === cluster && !goal.brokers.includes(n.id),
        );
        if (staying.length === 0)
          throw new Refused(
            `spec.brokers: removing every broker of cluster ${cluster} would leave its replica of each partition nowhere in that cluster (one replica per Kubernetes cluster); keep at least one of its brokers`,
          );
      }
    }
    const { sizes } = await session.replicaSizes(view);
    const plan = planRebalance(goal.mode, goal.brokers, {
      view,
      brokers,
      clusterOf: (id) => clusterOf.get(id),
      sizes,
    });
    if (plan.stuck.length > 0)
      throw new Refused(
        `no broker can take these replicas: ${plan.stuck.slice(0, 5).join("; ")}${plan.stuck.length > 5 ? ` and ${plan.stuck.length - 5} more` : ""}`,
      );
    const replicasOf = new Map(
      view.topics.flatMap((t) => t.partitions.map((p) => [`${t.name}/${p.id}`, p.replicas])),
    );
    // The busiest receiving broker at the throttle bounds the time from below.
    const receiving = new Map<number, number>();
    for (const m of plan.moves) {
      const was = replicasOf.get(`${m.topic}/${m.partition}`) ?? [];
      for (const r of m.replicas.filter((b) => !was.includes(b)))
        receiving.set(r, (receiving.get(r) ?? 0) + (sizes.get(`${m.topic}/${m.partition}`) ?? 0));
    }
    const known = plan.unknownSizes === 0;
    const figures = (f: typeof plan.before): NonNullable<Proposal["before"]> => ({
      replicaSpread: f.replicaSpread,
      leaderSpread: f.leaderSpread,
      placementViolations: f.placementViolations,
      replicas: f.replicas,
      leaders: f.leaders,
      ...(f.bytes ? { bytes: f.bytes } : {}),
    });
    return {
      proposedAt: this.deps.now(),
      brokers,
      partitionsToMove: plan.dataMoves,
      replicasToMove: plan.replicasMoved,
      leadersToChange: plan.moves.length - plan.dataMoves,
      ...(known
        ? {
            bytesToMove: plan.bytesToMove,
            estimatedSeconds: Math.ceil(
              Math.max(0, ...receiving.values()) / goal.throttleBytesPerSecond,
            ),
          }
        : {}),
      before: figures(plan.before),
      after: figures(plan.after),
      moves: plan.moves.slice(0, 50).map((m) => ({
        topic: m.topic,
        partition: m.partition,
        from: replicasOf.get(`${m.topic}/${m.partition}`) ?? [],
        to: m.replicas,
      })),
    };
  }

  private async withSession<T>(composite: string, f: (s: AdminSession) => Promise<T>): Promise<T> {
    const session = await this.deps.kafka.session(composite);
    try {
      return await f(session);
    } finally {
      await session.close();
    }
  }

  /** Takes a request back from the supervisor. */
  private release(key: string): void {
    const composite = this.handed.get(key);
    this.handed.delete(key);
    if (composite && this.deps.kafka.requested(composite)?.key === key)
      this.deps.kafka.request(composite, undefined);
  }

  /** The state into the status (with a condition of the state's name, as Strimzi has), and an event when it changes. */
  private async write(
    obj: KafkaRebalance,
    state: State,
    fields: Record<string, unknown>,
    conditions: Cond[],
  ): Promise<void> {
    const was = obj.status?.state;
    // One condition per state reached (Strimzi's shape), but Ready: that one
    // is the summary every write gives, with the reason and what to do.
    const stateConditions = states
      .filter((s) => s !== "Ready")
      .filter((s) => s === state || obj.status?.conditions?.some((c) => c.type === s))
      .map((s) =>
        cond(
          s,
          s === state,
          s === state ? "StateReached" : "StateLeft",
          s === state ? `the rebalance is ${s}` : `the rebalance is ${state}`,
        ),
      );
    const ready = conditions.find((c) => c.type === "Ready");
    await writeObjectStatus(
      this.deps,
      obj,
      { state, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) },
      [
        ...conditions,
        ...(conditions.some((c) => c.type === "Synced")
          ? []
          : [
              cond(
                "Synced",
                state !== "NotReady",
                state !== "NotReady" ? "ReconcileSuccess" : (ready?.reason ?? "Refused"),
                ready?.message ?? "",
              ),
            ]),
        ...stateConditions,
      ],
    );
    if (was === state) return;
    await this.deps.events.record(
      obj,
      state === "NotReady" ? "Warning" : "Normal",
      state === "Ready" ? "Rebalanced" : state === "NotReady" ? "RebalanceRefused" : state,
      ready?.message ?? `the rebalance is ${state}`,
    );
  }

  /** Removes the action annotation once acted on, by merge patch. */
  private async clearAction(obj: KafkaRebalance): Promise<void> {
    await this.deps.central.mergePatch(
      obj.apiVersion,
      obj.kind,
      obj.metadata.name ?? "",
      obj.metadata.namespace,
      { metadata: { annotations: { [rebalanceAnnotation]: null } } },
    );
  }
}

type Goal = Omit<RequestedRebalance, "key" | "stop">;

/** The request's mode, brokers and limits, the claim's spec.rebalance filling what it leaves out. */
function goalOf(obj: KafkaRebalance, claim: Claim): Goal {
  const defaults = withDefaults("StretchKafka", {
    apiVersion: groups.composite,
    kind: "StretchKafka",
    metadata: {},
    spec: { ...claim.spec, rebalance: claim.spec.rebalance ?? {} },
  }).spec.rebalance;
  return {
    mode: obj.spec.mode ?? "full",
    brokers: obj.spec.brokers ?? [],
    throttleBytesPerSecond:
      obj.spec.replicationThrottle ?? defaults.throttleBytesPerSecond ?? 52_428_800,
    maxPartitionMoves: obj.spec.maxPartitionMoves ?? defaults.maxPartitionMoves ?? 2,
  };
}
