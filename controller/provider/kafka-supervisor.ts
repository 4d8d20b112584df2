/**
 * The provider's hand on Kafka: every `intervalMs` it asks each Kafka cluster
 * (one per composite, named by the `kafkaAdmin` of its RemoteKafka managed
 * resources) for its own view over the admin channel, keeps the live status,
 * sets the Kafka metrics, and re-queues that composite's RemoteKafka
 * resources when the status changed, so it reaches status.atProvider.kafka
 * and from there the composite and the claim.
 *
 * Its cost is bounded: at most `concurrency` Kafka clusters are asked at once,
 * each over one connection opened for the round and closed after it; a
 * cluster that does not answer within `timeoutMs` is reported unreachable and
 * blocks nothing else (the Kubernetes-level reconciles never wait for it).
 * The client certificate (CN stretch-kafka-provider, of the composite's
 * cluster CA) is minted once and renewed by the PKI's rules.
 *
 * After reading the view it changes Kafka where the function asked, on the
 * same connection, as independent operations (`operations` below): moving
 * replicas off brokers being removed (`kafkaAdmin.drain`,
 * controller/kafka/drain.ts) under a replication throttle, clearing the
 * throttles once no move is under way, a dynamic quorum's voters
 * (`kafkaAdmin.voters`), leadership off clusters under maintenance and back
 * (`kafkaAdmin.evacuate`, `restoreLeadership`), raising metadata.version and
 * kraft.version (`kafkaAdmin.metadataVersion`, `kraftVersion`), and
 * unregistering retired brokers once Kafka has fenced them. Each runs every
 * round whatever the others did; one Kafka refuses is reported on its own
 * (status.atProvider.kafka.operationErrors, a Warning event when its error
 * changes) and blocks none of the others. Each round decides from what Kafka
 * says now, so a restart of the provider mid-drain picks up where Kafka is.
 */
import type { LookupFunction } from "node:net";
import type { Logger } from "pino";
import type { KafkaAdmin, KafkaLive } from "../../apis/index.ts";
import {
  AdminSession,
  kafkaReason,
  type AdminTls,
  type KafkaView,
  type PartitionMove,
} from "../kafka/admin.ts";
import isEqual from "lodash/isEqual.js";
import { planRebalance, type RebalanceMode } from "../kafka/balance.ts";
import { clearThrottles, planDrain, sameSet, throttleFor } from "../kafka/drain.ts";
import { planEvacuation, planRestore } from "../kafka/evacuate.ts";
import { liveStatus, nodesIn } from "../kafka/live.ts";
import { nextVoterChange } from "../kafka/voters.ts";
import type { OwnerReference } from "../kube/dynamic.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { Metrics } from "../metrics.ts";
import type { ManagedResource } from "../../apis/index.ts";
import { logReissue, type Pki } from "./pki.ts";

/** A partition's replicas as Kafka last said. */
function replicasOf(view: KafkaView, m: PartitionMove): number[] {
  return (
    view.topics.find((t) => t.name === m.topic)?.partitions.find((p) => p.id === m.partition)
      ?.replicas ?? []
  );
}

type BrokerState = NonNullable<KafkaLive["brokers"]>[number]["state"];
const brokerStates: BrokerState[] = ["Registered", "Fenced", "NotRegistered"];

export interface KafkaSupervisorOptions {
  /** How often each Kafka cluster is asked (default 30 s). */
  intervalMs?: number;
  /** How often while replicas move for a drain or a rebalance, so the next batch starts soon (default 5 s, never more than intervalMs). */
  movingIntervalMs?: number;
  /** How many Kafka clusters are asked at once, one connection each (default 4). */
  concurrency?: number;
  /** Connect and request timeout per broker (default 10 s). */
  timeoutMs?: number;
  /** How broker names resolve (default: the system's resolver). */
  lookup?: LookupFunction;
  /** Wraps each session it opens (the real-Kafka tests inject Kafka's refusals with it). */
  session?: (s: AdminSession) => AdminSession;
}

/** Kafka's last answer for a composite, and when it came. */
export interface KafkaSnapshot {
  view: KafkaView;
  at: number;
}

export interface Target {
  composite: string;
  admin: KafkaAdmin;
  owner: OwnerReference | undefined;
}

/**
 * One admin channel per composite: the carrier's (kafkaAdmin.carrier, the
 * one Kafka CR that carries what the provider is asked to do), else the
 * first (a channel rendered before carriers, where every one carries all).
 * While no carrier is seen but some Kafka CR says it is not one (the carrier
 * moving to another cluster, its update not here yet), data moves wait.
 */
export function channels(sources: readonly ManagedResource[]): Target[] {
  const found = new Map<
    string,
    { carrier?: ManagedResource; first: ManagedResource; carried: boolean }
  >();
  for (const mr of sources) {
    const admin = mr.spec.forProvider.kafkaAdmin;
    if (!admin || mr.metadata.deletionTimestamp) continue;
    const f = found.get(admin.authority) ?? { first: mr, carried: false };
    if (admin.carrier === true) f.carrier ??= mr;
    if (admin.carrier !== undefined) f.carried = true;
    found.set(admin.authority, f);
  }
  return [...found.entries()].map(([composite, f]) => {
    const mr = f.carrier ?? f.first;
    const admin = mr.spec.forProvider.kafkaAdmin as KafkaAdmin;
    return {
      composite,
      admin:
        f.carrier || !f.carried
          ? admin
          : { ...admin, movesWaitFor: "the admin channel's carrier has moved to another cluster" },
      owner: mr.metadata.ownerReferences?.find((r) => r.controller),
    };
  });
}

type Operation = NonNullable<KafkaLive["operationErrors"]>[number]["operation"];

/** A rebalance someone asked for (an approved KafkaRebalance), for one Kafka cluster. */
export interface RequestedRebalance {
  /** The KafkaRebalance, `namespace/name`. */
  key: string;
  mode: RebalanceMode;
  brokers: number[];
  throttleBytesPerSecond: number;
  maxPartitionMoves: number;
  /** Asked to stop: no new batch; Stopped once no reassignment is under way. */
  stop: boolean;
}

export type RequestState = "Waiting" | "Moving" | "Done" | "Stopped" | "Failed";

/** How an asked-for rebalance goes, as of the last round that reached Kafka. */
export interface RequestProgress {
  state: RequestState;
  message?: string;
  partitionsToMove?: number;
  leadersToChange?: number;
  bytesToMove?: number;
  /** Partitions being reassigned in Kafka now. */
  movingNow?: number;
  waitingFor?: string;
  /** When the round ended (ms). */
  at: number;
}

/** What each operation is, in a sentence's words, and the reason of its Warning event. */
const operationNames: Record<Operation, string> = {
  drain: "moving replicas off the brokers being removed",
  rebalance: "moving replicas onto the brokers that joined",
  throttles: "removing the replication throttles",
  voters: "changing the quorum's voters",
  leadership: "moving leadership for maintenance",
  features: "raising a finalized feature (metadata.version, kraft.version)",
  unregister: "unregistering a retired broker",
};
const operationReasons: Record<Operation, string> = {
  drain: "DrainFailed",
  rebalance: "RebalanceFailed",
  throttles: "ThrottleRemovalFailed",
  voters: "VoterChangeFailed",
  leadership: "LeadershipMoveFailed",
  features: "FeatureUpgradeFailed",
  unregister: "UnregisterFailed",
};

/** One round's state for one Kafka cluster, shared by its operations. */
interface Round {
  session: AdminSession;
  view: KafkaView;
  t: Target;
  live: KafkaLive;
  log: Logger;
  /** What the live status adds. */
  out: Partial<KafkaLive>;
  /** Whether the drain started moves this round (its throttles must stay). */
  moved: boolean;
}

export class KafkaSupervisor {
  private readonly live = new Map<string, KafkaLive>();
  private readonly views = new Map<string, KafkaSnapshot>();
  /** Per composite, the partitions this supervisor reassigned and their target replicas, until Kafka shows them. */
  private readonly moved = new Map<string, Map<string, { replicas: number[]; at: number }>>();
  private readonly tls = new Map<string, AdminTls>();
  /** Each composite's last answered round: when it ended and the admin channel it acted on. */
  private readonly rounds = new Map<string, { at: number; admin: KafkaAdmin }>();
  /** The last error of each composite's operation (`composite/operation`), reported once. */
  private readonly refusals = new Map<string, string>();
  /** The broker that answered last, tried first next time. */
  private readonly preferred = new Map<string, string>();
  /** Per composite, the rebalance someone asked for and approved (one at a time). */
  private readonly requests = new Map<string, RequestedRebalance>();
  /** Per request key, how it goes. */
  private readonly progress = new Map<string, RequestProgress>();
  /** Per composite, the replica sizes asked when the last batch was planned. */
  private readonly sizes = new Map<string, Map<string, number>>();
  private readonly intervalMs: number;
  private readonly movingIntervalMs: number;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: {
      pki: Pki;
      /** The RemoteKafka managed resources now (the provider's watch cache). */
      sources: () => ManagedResource[];
      onChange: (composite: string) => void;
      /** An asked-for rebalance's progress changed. */
      onRequest?: (composite: string, key: string) => void;
      metrics: Metrics;
      events: Pick<EventRecorder, "record">;
      log: Logger;
    },
    private readonly o: KafkaSupervisorOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? 30_000;
    this.movingIntervalMs = o.movingIntervalMs ?? 5_000;
    this.concurrency = Math.max(1, o.concurrency ?? 4);
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  /** The live status of a composite's Kafka, once asked. */
  get(composite: string): KafkaLive | undefined {
    return this.live.get(composite);
  }

  /**
   * When the last round that reached a composite's Kafka ended, and the admin
   * channel (what the function asked) it acted on: once it has acted on a
   * decision, what that decision leaves alone stays alone.
   */
  lastRound(composite: string): { at: number; admin: KafkaAdmin } | undefined {
    return this.rounds.get(composite);
  }

  /** What Kafka last answered for a composite (undefined while it cannot be asked). */
  snapshot(composite: string): KafkaSnapshot | undefined {
    return this.views.get(composite);
  }

  /** Whether a RemoteKafka tells how to ask this composite's Kafka (rendered once its addresses are known). */
  asks(composite: string): boolean {
    return this.targets().some((t) => t.composite === composite);
  }

  /** How to reach a composite's Kafka, as the function rendered it (its nodes and clusters). */
  admin(composite: string): KafkaAdmin | undefined {
    return this.targets().find((t) => t.composite === composite)?.admin;
  }

  /**
   * A session on a composite's Kafka for KafkaTopics and KafkaUsers, with the
   * provider's own certificate; the caller closes it. Throws while the
   * function has not rendered how to reach it, or no broker answers.
   */
  async session(composite: string): Promise<AdminSession> {
    const t = this.targets().find((x) => x.composite === composite);
    if (!t) throw new Error("the Kafka cluster's addresses are not known yet");
    return this.open(t);
  }

  /** One connection to a target's Kafka, the broker that answered last tried first. */
  private async open(t: Target): Promise<AdminSession> {
    const first = this.preferred.get(t.composite);
    const session = await AdminSession.open({
      servers: first
        ? [first, ...t.admin.bootstrapServers.filter((s) => s !== first)]
        : t.admin.bootstrapServers,
      tls: await this.certificate(t),
      lookup: this.o.lookup,
      timeoutMs: this.timeoutMs,
    });
    return this.o.session ? this.o.session(session) : session;
  }

  /**
   * The rebalance someone asked for on a composite's Kafka (undefined: none),
   * carried out from the next round on. One per Kafka cluster: a second is
   * refused while another is set (false is returned).
   */
  request(composite: string, r: RequestedRebalance | undefined): boolean {
    const had = this.requests.get(composite);
    if (!r) {
      if (had) this.progress.delete(had.key);
      this.requests.delete(composite);
      return true;
    }
    if (had && had.key !== r.key) return false;
    this.requests.set(composite, r);
    this.poke();
    return true;
  }

  /** The rebalance someone asked for on a composite's Kafka, if any. */
  requested(composite: string): RequestedRebalance | undefined {
    return this.requests.get(composite);
  }

  /** How an asked-for rebalance goes (undefined before a round reached Kafka for it). */
  progressOf(key: string): RequestProgress | undefined {
    return this.progress.get(key);
  }

  /** Asks every Kafka cluster again now (e.g. after a node was restarted). */
  poke(): void {
    this.wake?.();
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private targets(): Target[] {
    return channels(this.deps.sources());
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      const targets = this.targets();
      for (const gone of [...this.live.keys()].filter(
        (c) => !targets.some((t) => t.composite === c),
      )) {
        this.forget(gone);
      }
      const queue = [...targets];
      await Promise.all(
        Array.from({ length: Math.min(this.concurrency, queue.length) }, async () => {
          for (let t = queue.shift(); t; t = queue.shift()) await this.ask(t);
        }),
      );
      const moving = targets.some((t) => {
        const l = this.live.get(t.composite);
        const asked = this.requests.get(t.composite);
        return (
          (l?.partitions?.reassigning ?? 0) > 0 ||
          l?.rebalance?.state === "Moving" ||
          (asked !== undefined && this.progress.get(asked.key)?.state === "Moving")
        );
      });
      const interval = moving ? Math.min(this.intervalMs, this.movingIntervalMs) : this.intervalMs;
      const wait = Math.max(0, interval - (Date.now() - started));
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, wait).unref();
      });
    }
  }

  private async ask(t: Target): Promise<void> {
    const started = Date.now();
    let live: KafkaLive;
    try {
      const session = await this.open(t);
      try {
        const view = await session.view();
        this.preferred.set(t.composite, view.via);
        this.views.set(t.composite, { view, at: Date.now() });
        live = liveStatus(view, t.admin, Date.now());
        Object.assign(live, await this.act(session, view, t, live));
        this.rounds.set(t.composite, { at: Date.now(), admin: t.admin });
      } finally {
        await session.close();
      }
      this.deps.metrics.kafkaAskSeconds.observe(
        { outcome: "answered" },
        (Date.now() - started) / 1000,
      );
    } catch (err) {
      this.deps.metrics.kafkaAskSeconds.observe(
        { outcome: "unreachable" },
        (Date.now() - started) / 1000,
      );
      this.views.delete(t.composite);
      live = { reachable: false, message: `Kafka could not be asked: ${(err as Error).message}` };
      this.deps.log.debug(
        { composite: t.composite, err: (err as Error).message },
        "kafka unreachable",
      );
    }
    this.setMetrics(t.composite, live);
    await this.rebalanceEvent(t, this.live.get(t.composite)?.rebalance, live.rebalance);
    if (JSON.stringify(this.live.get(t.composite)) === JSON.stringify(live)) return;
    this.live.set(t.composite, live);
    this.deps.onChange(t.composite);
  }

  /**
   * What the function asked Kafka to do, from what Kafka says now, one
   * operation after the other on the session; each one's failure is its own.
   * Returns what the live status should add (drain progress, refusals).
   */
  private async act(
    session: AdminSession,
    view: KafkaView,
    t: Target,
    live: KafkaLive,
  ): Promise<Partial<KafkaLive>> {
    const round: Round = {
      session,
      view,
      t,
      live,
      log: this.deps.log.child({ composite: t.composite }),
      out: {},
      moved: false,
    };
    const errors: NonNullable<KafkaLive["operationErrors"]> = [];
    for (const [operation, step] of this.operations) {
      try {
        await step(round);
        this.refusals.delete(`${t.composite}/${operation}`);
      } catch (err) {
        const message = kafkaReason(err);
        errors.push({ operation, message });
        await this.refused(t, operation, message, round.log);
      }
    }
    return { ...round.out, ...(errors.length > 0 ? { operationErrors: errors } : {}) };
  }

  /** Logs a failed operation and, when its error is new, records a Warning event on the RemoteKafka. */
  private async refused(
    t: Target,
    operation: Operation,
    message: string,
    log: Logger,
  ): Promise<void> {
    log.warn({ operation, err: message }, "kafka operation failed");
    const key = `${t.composite}/${operation}`;
    if (this.refusals.get(key) === message) return;
    this.refusals.set(key, message);
    const source = this.source(t);
    if (source)
      await this.deps.events.record(
        source,
        "Warning",
        operationReasons[operation],
        `${operationNames[operation]} failed: ${message}`,
      );
  }

  /** A RemoteKafka of the composite, where its events go. */
  private source(t: Target): ManagedResource | undefined {
    return this.deps
      .sources()
      .find((mr) => mr.spec.forProvider.kafkaAdmin?.authority === t.composite);
  }

  /** A Normal event when moving onto joined brokers starts, waits or ends. */
  private async rebalanceEvent(
    t: Target,
    before: KafkaLive["rebalance"],
    now: KafkaLive["rebalance"],
  ): Promise<void> {
    if (!now || (before?.state === now.state && before.brokers.join() === now.brokers.join()))
      return;
    const source = this.source(t);
    if (!source) return;
    const onto = `broker ${now.brokers.join(", ")}`;
    const say: Record<typeof now.state, [reason: string, message: string]> = {
      Waiting: ["RebalanceWaiting", `moving replicas onto ${onto} waits: ${now.message ?? ""}`],
      Moving: [
        "Rebalancing",
        `moving replicas onto ${onto}: ${String(now.partitionsToMove ?? 0)} partition(s) to move, replica spread ${String(now.replicaSpread?.now ?? "?")} → ${String(now.replicaSpread?.planned ?? "?")}`,
      ],
      Done: [
        "Rebalanced",
        `${onto} took its share: replica spread ${String(now.replicaSpread?.now ?? "?")}, leader spread ${String(now.leaderSpread?.now ?? "?")}`,
      ],
    };
    const [reason, message] = say[now.state];
    await this.deps.events.record(source, "Normal", reason, message);
  }

  /** The operations of a round, in order: each runs whatever the others did. */
  private readonly operations: [Operation, (r: Round) => Promise<void>][] = [
    ["drain", (r) => this.drain(r)],
    ["rebalance", (r) => this.rebalance(r)],
    ["throttles", (r) => this.clearThrottles(r)],
    ["voters", (r) => this.changeVoters(r)],
    ["leadership", (r) => this.moveLeadership(r)],
    ["features", (r) => this.raiseFeatures(r)],
    ["unregister", (r) => this.unregisterRetired(r)],
  ];

  /** The next moves of replicas off the brokers being removed, under a throttle. */
  private async drain(r: Round): Promise<void> {
    const { view, t, live } = r;
    const drain = t.admin.drain;
    const draining = new Set(drain?.nodes ?? []);
    if (!drain || draining.size === 0 || !live.drain) return;
    const clusterOf = new Map(t.admin.nodes.map((n) => [n.id, n.cluster]));
    const targets = view.brokers
      .filter((b) => !b.fenced && !draining.has(b.id) && clusterOf.has(b.id))
      .map((b) => b.id);
    const moved = this.recentMoves(t.composite, view);
    const plan = planDrain(
      view,
      draining,
      targets,
      (id) => clusterOf.get(id),
      new Map([...moved].map(([k, v]) => [k, v.replicas])),
    );
    if (plan.stuck.length > 0) r.out.drain = { ...live.drain, stuck: plan.stuck.slice(0, 10) };
    if (plan.moves.length === 0) return;
    await this.moveData(r, plan.moves, drain.throttleBytesPerSecond);
    r.log.info(
      {
        nodes: [...draining],
        moves: plan.moves
          .slice(0, 20)
          .map((m) => `${m.topic}-${m.partition}:${m.replicas.join(",")}`),
        left: plan.replicasLeft,
      },
      "drain: reassigning partitions off the brokers being removed",
    );
  }

  /**
   * The partitions this supervisor reassigned and their target replicas, those
   * Kafka now shows done (or that someone else moved: given up on after 10
   * minutes) forgotten.
   */
  private recentMoves(
    composite: string,
    view: KafkaView,
  ): Map<string, { replicas: number[]; at: number }> {
    const moved =
      this.moved.get(composite) ?? new Map<string, { replicas: number[]; at: number }>();
    this.moved.set(composite, moved);
    for (const tp of view.topics) {
      for (const p of tp.partitions) {
        const key = `${tp.name}/${p.id}`;
        const m = moved.get(key);
        if (m && (sameSet(m.replicas, p.replicas) || Date.now() - m.at > 600_000))
          moved.delete(key);
      }
    }
    return moved;
  }

  /** Reassignments that copy data, under the replication throttle, remembered until Kafka shows them. */
  private async moveData(r: Round, moves: PartitionMove[], throttle: number): Promise<void> {
    r.moved = true;
    await r.session.alterConfigs(throttleFor(moves, r.view, throttle));
    await r.session.reassign(moves);
    const moved = this.recentMoves(r.t.composite, r.view);
    for (const m of moves)
      moved.set(`${m.topic}/${m.partition}`, { replicas: m.replicas, at: Date.now() });
  }

  /**
   * The rebalance of a round: onto the brokers that joined (`kafkaAdmin.rebalance`,
   * rendered by the function only while nothing else moves data or restarts
   * nodes), else one someone asked for (a KafkaRebalance, approved: `request`).
   * The asked-for one waits while the function says something else is under
   * way (`kafkaAdmin.movesWaitFor`) or brokers that joined take their share,
   * and starts no new batch once asked to stop.
   */
  private async rebalance(r: Round): Promise<void> {
    const { t } = r;
    const ask = t.admin.rebalance;
    const request = this.requests.get(t.composite);
    if (ask && (t.admin.drain?.nodes.length ?? 0) === 0) {
      await this.balanceBatch(
        r,
        {
          mode: "add-brokers",
          brokers: ask.onto,
          throttleBytesPerSecond: ask.throttleBytesPerSecond,
          maxPartitionMoves: ask.maxPartitionMoves,
        },
        (state, more = {}) => {
          r.out.rebalance = { brokers: ask.onto, state, ...more };
        },
      );
      if (request)
        this.reportRequest(t.composite, request, {
          state: request.stop ? "Stopped" : "Waiting",
          message: `broker ${ask.onto.join(", ")} that joined take their share first`,
        });
      return;
    }
    if (!request) return;
    const report = (state: RequestState, more: Partial<RequestProgress> = {}): void => {
      this.reportRequest(t.composite, request, { state, ...more });
    };
    if (request.stop) {
      if (r.view.reassigning.length > 0) {
        r.moved = true;
        report("Moving", {
          message: `stopping: ${r.view.reassigning.length} partition(s) being reassigned finish first`,
          movingNow: r.view.reassigning.length,
        });
      } else report("Stopped", { message: "stopped; no reassignment is under way" });
      return;
    }
    const waitFor =
      t.admin.movesWaitFor ??
      ((t.admin.drain?.nodes.length ?? 0) > 0 ? "the drain is done" : undefined);
    if (waitFor) {
      report("Waiting", { message: `waiting until ${waitFor}`, waitingFor: waitFor });
      return;
    }
    try {
      await this.balanceBatch(r, request, (state, more = {}) => {
        report(state, {
          ...(more.message !== undefined ? { message: more.message } : {}),
          ...(more.partitionsToMove !== undefined
            ? { partitionsToMove: more.partitionsToMove }
            : {}),
          ...(more.leadersToChange !== undefined ? { leadersToChange: more.leadersToChange } : {}),
          ...(more.bytesToMove !== undefined ? { bytesToMove: more.bytesToMove } : {}),
          movingNow: r.view.reassigning.length,
        });
      });
    } catch (err) {
      report("Failed", { message: kafkaReason(err) });
      throw err;
    }
  }

  /**
   * One round of a rebalance (controller/kafka/balance.ts), a batch at a time:
   * the next batch is planned once Kafka has finished the last (no
   * reassignment under way), so at most `maxPartitionMoves` partitions copy at
   * once, sized from DescribeLogDirs. Once no data is left to move, preferred
   * leaders are spread (replica lists reordered) and elected, and every
   * partition not led by its preferred replica (in sync) gets a
   * preferred-leader election; then it is Done.
   */
  private async balanceBatch(
    r: Round,
    goal: {
      mode: RebalanceMode;
      brokers: number[];
      throttleBytesPerSecond: number;
      maxPartitionMoves: number;
    },
    report: (
      state: NonNullable<KafkaLive["rebalance"]>["state"],
      more?: Partial<NonNullable<KafkaLive["rebalance"]>>,
    ) => void,
  ): Promise<void> {
    const { view, t, session } = r;
    const clusterOf = new Map(t.admin.nodes.map((n) => [n.id, n.cluster]));
    const brokers = view.brokers.filter((b) => !b.fenced && clusterOf.has(b.id)).map((b) => b.id);
    const absent = goal.brokers.filter((id) => !brokers.includes(id));
    if (goal.mode === "add-brokers" && absent.length > 0) {
      report("Waiting", {
        message: `broker ${absent.join(", ")} is not registered and unfenced in Kafka yet`,
      });
      return;
    }
    const idle = view.reassigning.length === 0;
    // Sizes are asked when a batch is planned, and kept for the figures meanwhile.
    if (idle) this.sizes.set(t.composite, (await session.replicaSizes(view)).sizes);
    const input = {
      view,
      brokers,
      clusterOf: (id: number) => clusterOf.get(id),
      sizes: this.sizes.get(t.composite) ?? new Map<string, number>(),
      moved: new Map([...this.recentMoves(t.composite, view)].map(([k, v]) => [k, v.replicas])),
    };
    const whole = planRebalance(goal.mode, goal.brokers, input);
    if (whole.stuck.length > 0)
      throw new Error(`no broker can take these replicas: ${whole.stuck.slice(0, 5).join("; ")}`);
    const figures = {
      partitionsToMove: whole.dataMoves,
      leadersToChange: whole.moves.length - whole.dataMoves,
      ...(whole.unknownSizes === 0 ? { bytesToMove: whole.bytesToMove } : {}),
      replicaSpread: { now: whole.before.replicaSpread, planned: whole.after.replicaSpread },
      leaderSpread: { now: whole.before.leaderSpread, planned: whole.after.leaderSpread },
    };
    const what = `${goal.mode} ${goal.brokers.length > 0 ? `(broker ${goal.brokers.join(", ")})` : ""}`;
    if (!idle) {
      // The last batch is still copying: its throttles stay, nothing new starts.
      r.moved = true;
      report("Moving", {
        ...figures,
        message: `${view.reassigning.length} partition(s) being reassigned`,
      });
      return;
    }
    if (whole.dataMoves > 0) {
      const batch = planRebalance(goal.mode, goal.brokers, {
        ...input,
        maxDataMoves: goal.maxPartitionMoves,
      });
      const data = batch.moves.filter((m) => !sameSet(m.replicas, replicasOf(view, m)));
      await this.moveData(r, data, goal.throttleBytesPerSecond);
      report("Moving", { ...figures, message: `moving ${data.length} partition(s)` });
      r.log.info(
        {
          rebalance: what,
          moves: data.slice(0, 20).map((m) => `${m.topic}-${m.partition}:${m.replicas.join(",")}`),
          left: whole.dataMoves,
        },
        "rebalance: reassigning partitions",
      );
      return;
    }
    if (whole.moves.length > 0) {
      await session.reassign(whole.moves);
      await session.electPreferred(whole.moves);
      report("Moving", { ...figures, message: "spreading preferred leaders" });
      r.log.info(
        { rebalance: what, reordered: whole.moves.length },
        "rebalance: preferred leaders spread and elected",
      );
      return;
    }
    // Partitions led by another replica than their preferred one (a roll or a
    // drain before left them so) get it back, as after a Cruise Control run.
    const elect = view.topics.flatMap((tp) =>
      tp.partitions
        .filter((p) => p.replicas[0] !== undefined && p.leader !== p.replicas[0])
        .filter((p) => p.isr.includes(p.replicas[0] ?? -1))
        .map((p) => ({ topic: tp.name, partition: p.id })),
    );
    await session.electPreferred(elect);
    if (elect.length > 0)
      r.log.info({ elected: elect.length }, "rebalance: preferred leaders elected");
    report("Done", figures);
  }

  /** Keeps a request's progress, and tells the owner of the request when it changed. */
  private reportRequest(
    composite: string,
    request: RequestedRebalance,
    progress: Omit<RequestProgress, "at">,
  ): void {
    const before = this.progress.get(request.key);
    const now = { ...progress, at: Date.now() };
    this.progress.set(request.key, now);
    const { at: _a, ...was } = before ?? { at: 0 };
    if (!before || !isEqual(was, progress)) this.deps.onRequest?.(composite, request.key);
  }

  /** Every replication throttle removed once no reassignment is under way (none started this round). */
  private async clearThrottles(r: Round): Promise<void> {
    if (r.moved) return;
    const cleared = clearThrottles(r.view);
    if (cleared.length === 0) return;
    await r.session.alterConfigs(cleared);
    r.log.info("drain: no reassignment under way; replication throttles removed");
  }

  /** Leadership off the clusters under maintenance, and back to those cleared (controller/kafka/evacuate.ts). */
  private async moveLeadership(r: Round): Promise<void> {
    const { session, view, t } = r;
    for (const [what, plan] of [
      ["evacuate", planEvacuation(view, nodesIn(t.admin, t.admin.evacuate).brokers)],
      ["restore", planRestore(view, nodesIn(t.admin, t.admin.restoreLeadership).brokers)],
    ] as const) {
      if (plan.moves.length === 0 && plan.elect.length === 0) continue;
      await session.reassign(plan.moves);
      await session.electPreferred(plan.elect);
      r.log.info(
        { what, reordered: plan.moves.length, elected: plan.elect.length },
        what === "evacuate"
          ? "maintenance: moving leadership off the clusters under maintenance"
          : "maintenance: giving leadership back to the clusters back from maintenance",
      );
    }
  }

  /** A dynamic quorum's next voter change (controller/kafka/voters.ts), if any. */
  private async changeVoters(r: Round): Promise<void> {
    const { session, view, t } = r;
    const change = nextVoterChange(view, t.admin.voters, Date.now());
    if (!change) return;
    if ("add" in change) {
      await session.addVoter(
        view.clusterId,
        change.add.id,
        change.add.directoryId,
        change.listener,
      );
      r.log.info({ voter: change.add.id }, "quorum: added a caught-up controller as a voter");
    } else {
      await session.removeVoter(view.clusterId, change.remove.id, change.remove.directoryId);
      r.log.info({ voter: change.remove.id }, "quorum: removed a voter the claim no longer has");
    }
  }

  /** metadata.version after an upgrade, kraft.version while a static quorum migrates to dynamic. */
  private async raiseFeatures(r: Round): Promise<void> {
    const { session, view, t } = r;
    const mv = t.admin.metadataVersion;
    const finalized = view.features["metadata.version"] ?? 0;
    if (mv && mv.level > finalized) {
      await session.upgradeFeature("metadata.version", mv.level);
      r.log.info(
        { from: finalized, to: mv.name },
        "raised metadata.version: every node runs the new version",
      );
    }
    const kraft = view.features["kraft.version"] ?? 0;
    if (t.admin.kraftVersion && t.admin.kraftVersion > kraft) {
      await session.upgradeFeature("kraft.version", t.admin.kraftVersion);
      r.log.info(
        { from: kraft, to: t.admin.kraftVersion },
        "raised kraft.version: the static quorum becomes dynamic",
      );
    }
  }

  /** Retired brokers leave Kafka's metadata once Kafka has fenced them; one refused holds up no other. */
  private async unregisterRetired(r: Round): Promise<void> {
    const refused: string[] = [];
    for (const id of r.t.admin.retiredBrokers ?? []) {
      if (!r.view.brokers.find((b) => b.id === id)?.fenced) continue;
      try {
        await r.session.unregisterBroker(id);
        r.log.info({ broker: id }, "unregistered a retired broker");
      } catch (err) {
        refused.push(`broker ${id}: ${kafkaReason(err)}`);
      }
    }
    if (refused.length > 0) throw new Error(refused.join("; "));
  }

  private async certificate(t: Target): Promise<AdminTls> {
    const req = {
      authority: t.admin.authority,
      commonName: "stretch-kafka-provider",
      issuer: "ClusterCA" as const,
      usages: ["client" as const],
      validityDays: 365,
      renewBeforeDays: 30,
    };
    const had = this.tls.get(t.composite);
    const issued = await this.deps.pki.certificate(req, had, t.owner);
    logReissue(this.deps.log, issued, { composite: t.composite, commonName: req.commonName });
    const tls = { ca: issued.ca, cert: issued.cert, key: issued.key };
    this.tls.set(t.composite, tls);
    return tls;
  }

  /** The gauges, rebuilt from every composite's last status (this one's new). */
  private setMetrics(composite: string, live: KafkaLive): void {
    const m = this.deps.metrics;
    m.kafkaReachable.set({ composite }, live.reachable ? 1 : 0);
    this.rebuild(new Map([...this.live, [composite, live]]));
  }

  private rebuild(all: Map<string, KafkaLive>): void {
    const m = this.deps.metrics;
    for (const g of [
      m.kafkaVoters,
      m.kafkaBrokers,
      m.kafkaPartitions,
      m.kafkaDataAtRisk,
      m.kafkaRebalancePartitions,
    ])
      g.reset();
    for (const [c, l] of all) this.counts(c, l);
  }

  private counts(composite: string, live: KafkaLive): void {
    if (!live.reachable) return;
    const m = this.deps.metrics;
    for (const v of live.quorum?.voters ?? []) {
      m.kafkaVoters.inc({
        composite,
        cluster: v.cluster ?? "",
        caught_up: String(v.caughtUp ?? false),
      });
    }
    // Every state of every cluster, zeros included: "no Registered broker in
    // west" must be a 0 to alert on, not a missing series.
    const brokers = live.brokers ?? [];
    for (const cluster of new Set(brokers.map((b) => b.cluster)))
      for (const state of brokerStates) m.kafkaBrokers.set({ composite, cluster, state }, 0);
    for (const b of brokers) m.kafkaBrokers.inc({ composite, cluster: b.cluster, state: b.state });
    const p = live.partitions ?? {};
    m.kafkaPartitions.set({ composite, state: "total" }, p.total ?? 0);
    m.kafkaPartitions.set({ composite, state: "under_replicated" }, p.underReplicated ?? 0);
    m.kafkaPartitions.set({ composite, state: "under_min_isr" }, p.underMinIsr ?? 0);
    m.kafkaPartitions.set({ composite, state: "offline" }, p.offline ?? 0);
    m.kafkaDataAtRisk.set({ composite }, live.dataAtRiskTopics ?? 0);
    // Brokers that joined, else a rebalance someone asked for.
    const asked = this.requests.get(composite);
    const toMove =
      live.rebalance?.partitionsToMove ??
      (asked ? this.progress.get(asked.key)?.partitionsToMove : undefined);
    if (live.rebalance || toMove !== undefined)
      m.kafkaRebalancePartitions.set({ composite }, toMove ?? 0);
  }

  private forget(composite: string): void {
    this.live.delete(composite);
    this.views.delete(composite);
    this.moved.delete(composite);
    this.sizes.delete(composite);
    this.rounds.delete(composite);
    for (const key of [...this.refusals.keys()])
      if (key.startsWith(`${composite}/`)) this.refusals.delete(key);
    this.tls.delete(composite);
    this.preferred.delete(composite);
    this.deps.metrics.kafkaReachable.remove({ composite });
    this.rebuild(this.live);
  }
}
