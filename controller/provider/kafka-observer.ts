/**
 * The provider's eyes on Kafka: every `intervalMs` it asks each Kafka
 * cluster (one per composite, named by the `kafkaAdmin` of its RemoteKafka
 * managed resources) for its own view over the admin channel, keeps the live
 * status, sets the Kafka metrics, and re-queues that composite's RemoteKafka
 * resources when the status changed, so it reaches status.atProvider.kafka
 * and from there the composite and the claim.
 *
 * Its cost is bounded: at most `concurrency` Kafka clusters are asked at once,
 * each over one connection opened for the round and closed after it; a
 * cluster that does not answer within `timeoutMs` is reported unreachable and
 * blocks nothing else (the Kubernetes-level reconciles never wait for it).
 * The client certificate (CN stretch-kafka-provider, of the composite's
 * cluster CA) is minted once and renewed by the PKI's rules.
 */
import type { LookupFunction } from "node:net";
import type { Logger } from "pino";
import type { KafkaAdmin, KafkaLive } from "../../apis/index.ts";
import { askKafka, type AdminTls } from "../kafka/admin.ts";
import { liveStatus } from "../kafka/live.ts";
import type { OwnerReference } from "../kube/dynamic.ts";
import type { Metrics } from "../metrics.ts";
import type { ManagedResource } from "./reconciler.ts";
import type { Pki } from "./pki.ts";

export interface KafkaObserverOptions {
  /** How often each Kafka cluster is asked (default 30 s). */
  intervalMs?: number;
  /** How many Kafka clusters are asked at once, one connection each (default 4). */
  concurrency?: number;
  /** Connect and request timeout per broker (default 10 s). */
  timeoutMs?: number;
  /** How broker names resolve (default: the system's resolver). */
  lookup?: LookupFunction;
}

interface Target {
  composite: string;
  admin: KafkaAdmin;
  owner: OwnerReference | undefined;
}

export class KafkaObserver {
  private readonly live = new Map<string, KafkaLive>();
  private readonly tls = new Map<string, AdminTls>();
  /** The broker that answered last, tried first next time. */
  private readonly preferred = new Map<string, string>();
  private readonly intervalMs: number;
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
      metrics: Metrics;
      log: Logger;
    },
    private readonly o: KafkaObserverOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? 30_000;
    this.concurrency = Math.max(1, o.concurrency ?? 4);
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  /** The live status of a composite's Kafka, once asked. */
  get(composite: string): KafkaLive | undefined {
    return this.live.get(composite);
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
    const out = new Map<string, Target>();
    for (const mr of this.deps.sources()) {
      const admin = (mr.spec.forProvider as { kafkaAdmin?: KafkaAdmin }).kafkaAdmin;
      if (!admin || mr.metadata.deletionTimestamp || out.has(admin.authority)) continue;
      out.set(admin.authority, {
        composite: admin.authority,
        admin,
        owner: mr.metadata.ownerReferences?.find((r) => r.controller),
      });
    }
    return [...out.values()];
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
      const wait = Math.max(0, this.intervalMs - (Date.now() - started));
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
      const tls = await this.certificate(t);
      const first = this.preferred.get(t.composite);
      const servers = first
        ? [first, ...t.admin.bootstrapServers.filter((s) => s !== first)]
        : t.admin.bootstrapServers;
      const view = await askKafka({
        servers,
        tls,
        lookup: this.o.lookup,
        timeoutMs: this.timeoutMs,
      });
      this.preferred.set(t.composite, view.via);
      live = liveStatus(view, t.admin, Date.now());
      this.deps.metrics.kafkaAskSeconds.observe(
        { outcome: "answered" },
        (Date.now() - started) / 1000,
      );
    } catch (err) {
      this.deps.metrics.kafkaAskSeconds.observe(
        { outcome: "unreachable" },
        (Date.now() - started) / 1000,
      );
      live = { reachable: false, message: `Kafka could not be asked: ${(err as Error).message}` };
      this.deps.log.debug(
        { composite: t.composite, err: (err as Error).message },
        "kafka unreachable",
      );
    }
    this.setMetrics(t.composite, live);
    if (JSON.stringify(this.live.get(t.composite)) === JSON.stringify(live)) return;
    this.live.set(t.composite, live);
    this.deps.onChange(t.composite);
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
    for (const g of [m.kafkaVoters, m.kafkaBrokers, m.kafkaPartitions, m.kafkaDataAtRisk])
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
    for (const b of live.brokers ?? [])
      m.kafkaBrokers.inc({ composite, cluster: b.cluster, state: b.state });
    const p = live.partitions ?? {};
    m.kafkaPartitions.set({ composite, state: "total" }, p.total ?? 0);
    m.kafkaPartitions.set({ composite, state: "under_replicated" }, p.underReplicated ?? 0);
    m.kafkaPartitions.set({ composite, state: "under_min_isr" }, p.underMinIsr ?? 0);
    m.kafkaPartitions.set({ composite, state: "offline" }, p.offline ?? 0);
    m.kafkaDataAtRisk.set({ composite }, live.dataAtRiskTopics ?? 0);
  }

  private forget(composite: string): void {
    this.live.delete(composite);
    this.tls.delete(composite);
    this.preferred.delete(composite);
    this.deps.metrics.kafkaReachable.remove({ composite });
    this.rebuild(this.live);
  }
}
