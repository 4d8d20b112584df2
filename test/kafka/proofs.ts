/**
 * What the real-Kafka tests ask of Kafka, with Kafka's own tools (the
 * admin, producer and consumer clients from the same jars): the quorum, where
 * replicas land, and a numbered stream produced while a cluster dies.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { RunError } from "../../devbed/run.ts";
import type { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { always, eventually, type Always } from "../../devbed/eventually.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";

/** What the proofs need of a running Kafka: its tools run as clients inside a cluster. */
export type KafkaBed = Pick<KafkaStretchBed, "tool" | "spawnTool" | "clientConfig" | "bootstrap">;

export { quorumStatus, type QuorumStatus } from "../../devbed/kafka/tools.ts";

export interface PartitionInfo {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

/** A topic's partitions as the admin client describes them. */
export async function describeTopic(
  bed: KafkaBed,
  cluster: string,
  topic: string,
  extra: string[] = [],
): Promise<PartitionInfo[]> {
  return (await describe(bed, cluster, ["--topic", topic, ...extra])).map((p) => ({
    partition: p.partition,
    leader: p.leader,
    replicas: p.replicas,
    isr: p.isr,
  }));
}

/** Every partition of every topic, internal ones included, as the admin client describes them. */
export async function describeAll(
  bed: KafkaBed,
  cluster: string,
): Promise<(PartitionInfo & { topic: string })[]> {
  return describe(bed, cluster, []);
}

async function describe(
  bed: KafkaBed,
  cluster: string,
  args: string[],
): Promise<(PartitionInfo & { topic: string })[]> {
  const { stdout } = await bed.tool(cluster, "org.apache.kafka.tools.TopicCommand", [
    "--bootstrap-server",
    bed.bootstrap(cluster),
    "--describe",
    ...args,
  ]);
  const ids = (s: string | undefined): number[] => (s ?? "").split(",").filter(Boolean).map(Number);
  return stdout
    .split("\n")
    .filter((l) => /\bPartition: \d+/.test(l))
    .map((l) => ({
      topic: /Topic: (\S+)/.exec(l)?.[1] ?? "",
      partition: Number(/Partition: (\d+)/.exec(l)?.[1]),
      leader: Number(/Leader: (-?\d+)/.exec(l)?.[1]),
      replicas: ids(/Replicas: ([\d,]+)/.exec(l)?.[1]),
      isr: ids(/Isr: ([\d,]*)/.exec(l)?.[1]),
    }));
}

/** Creates a topic with every setting left to the cluster's defaults but the partition count. */
export async function createTopic(
  bed: KafkaBed,
  cluster: string,
  topic: string,
  partitions: number,
): Promise<void> {
  // A broker that has just joined may time a first request out on a loaded
  // machine; --if-not-exists makes a retry safe when the first one did land.
  await eventually(
    `topic ${topic} created`,
    async () => {
      await bed.tool(cluster, "org.apache.kafka.tools.TopicCommand", [
        "--bootstrap-server",
        bed.bootstrap(cluster),
        "--create",
        "--if-not-exists",
        "--topic",
        topic,
        "--partitions",
        String(partitions),
      ]);
      return true;
    },
    240,
    2000,
  );
}

export interface Ack {
  value: number;
  partition: number;
  offset: number;
  /** When the producer saw the acknowledgement (ms since epoch). */
  at: number;
}

/** A numbered stream produced by Kafka's VerifiableProducer (idempotent, acks=all), as it goes. */
export class NumberedProducer {
  readonly acks: Ack[] = [];
  readonly errors: string[] = [];
  private readonly done: Promise<unknown>;
  private readonly proc;
  private stderr = "";
  /** Set when the producer exited before finishing its stream, with why. */
  failure: string | undefined;

  constructor(
    bed: KafkaBed,
    cluster: string,
    topic: string,
    messages: number,
    perSecond: number,
    /** Another listener and the client settings it needs (TLS, SASL). */
    listener?: { port: number; name: string; config: Record<string, string | number> },
  ) {
    const config = bed.clientConfig(`producer-${listener?.name ?? "plain"}-${topic}.properties`, {
      ...listener?.config,
      "enable.idempotence": "true",
      acks: "all",
      // VerifiableProducer turns retries off unless told; idempotence needs them.
      retries: 2147483647,
      // Wait out a cluster's loss rather than give up on a message.
      "delivery.timeout.ms": 300000,
      "client.rack": cluster,
    });
    this.proc = bed.spawnTool(cluster, "org.apache.kafka.tools.VerifiableProducer", [
      "--bootstrap-server",
      bed.bootstrap(cluster, listener?.port),
      "--topic",
      topic,
      "--max-messages",
      String(messages),
      "--throughput",
      String(perSecond),
      "--acks",
      "-1",
      // Keyed, so every partition gets its share (unkeyed records stick to a few).
      "--repeating-keys",
      "600",
      "--producer.config",
      config,
    ]);
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      if (!line.startsWith("{")) return;
      const e = JSON.parse(line) as {
        name: string;
        value?: string;
        partition?: number;
        offset?: number;
        exception?: string;
        message?: string;
      };
      if (e.name === "producer_send_success") {
        this.acks.push({
          value: Number(e.value),
          partition: e.partition ?? -1,
          offset: e.offset ?? -1,
          at: Date.now(),
        });
      } else if (e.name === "producer_send_error") {
        this.errors.push(`${e.value ?? ""}: ${e.exception ?? ""} ${e.message ?? ""}`);
      }
    });
    this.proc.stderr.on("data", (c: Buffer) => {
      this.stderr = (this.stderr + c.toString()).slice(-8000);
    });
    this.done = once(this.proc, "exit").then(([code]) => {
      if (code !== 0)
        this.failure = `VerifiableProducer exited with ${String(code)}:\n${this.stderr}`;
    });
  }

  async finished(): Promise<void> {
    await this.done;
    if (this.failure) throw new Error(this.failure);
  }

  stop(): void {
    this.proc.kill("SIGKILL");
  }
}

/** Every value in a topic, read from the beginning by Kafka's console consumer (values printed one per line). */
export async function consumeAll(
  bed: KafkaBed,
  cluster: string,
  topic: string,
  idleMs = 15000,
): Promise<number[]> {
  const { stdout } = await bed
    .tool(cluster, "org.apache.kafka.tools.consumer.ConsoleConsumer", [
      "--bootstrap-server",
      bed.bootstrap(cluster),
      "--topic",
      topic,
      "--from-beginning",
      // Reads until nothing more comes for this long: duplicates would be read too.
      "--timeout-ms",
      String(idleMs),
      "--consumer-property",
      `client.rack=${cluster}`,
      // Each record with where it is in the log: a consumer may read a range
      // again (its position reset to the earliest offset when a follower it
      // fetches from is behind after a move, or a rebalance before its first
      // commit), which is not a message written twice.
      "--property",
      "print.partition=true",
      "--property",
      "print.offset=true",
    ])
    .catch((err: unknown) => {
      // The consumer exits non-zero on its timeout; what it printed still counts.
      if (err instanceof RunError) return { stdout: err.stdout };
      throw err;
    });
  const records = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    const partition = /Partition:(\d+)/.exec(line)?.[1];
    const offset = /Offset:(\d+)/.exec(line)?.[1];
    const value = /\t(\d+)$/.exec(line)?.[1];
    if (partition === undefined || offset === undefined || value === undefined) continue;
    const at = `${partition}@${offset}`;
    const seen = records.get(at);
    assert.ok(
      seen === undefined || seen === Number(value),
      `offset ${offset} of partition ${partition} read as ${String(seen)} and as ${value}`,
    );
    records.set(at, Number(value));
  }
  return [...records.values()];
}

/** Count and digest of a multiset of message values, order-independent. */
export function checksum(values: number[]): { count: number; sha256: string } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    sha256: createHash("sha256").update(sorted.join(",")).digest("hex"),
  };
}

/** One sample of a topic's partitions, from IsrSampler.java. */
export interface IsrSample {
  at: number;
  partitions?: { partition: number; leader: number; replicas: number[]; isr: number[] }[];
  error?: string;
}

const isrSampler = fileURLToPath(new URL("./IsrSampler.java", import.meta.url));

/**
 * A topic's partitions sampled continuously by Kafka's own Admin client
 * (IsrSampler.java, one JVM each), from inside two clusters at once over
 * every broker's address: any reachable cluster answers, and losing one
 * leaves no gap.
 */
export class IsrFeed {
  private readonly pending: IsrSample[] = [];
  private readonly procs: ReturnType<KafkaStretchBed["spawnTool"]>[] = [];
  private lastError = "";
  private stopped = false;

  constructor(bed: KafkaBed, clusters: string[], topic: string, intervalMs = 500) {
    for (const cluster of clusters) {
      const proc = bed.spawnTool(cluster, isrSampler, [
        bed.bootstrap(cluster),
        topic,
        String(intervalMs),
      ]);
      createInterface({ input: proc.stdout }).on("line", (line) => {
        if (!line.startsWith("{")) return;
        const sample = JSON.parse(line) as IsrSample;
        if (sample.error !== undefined) this.lastError = `${cluster}: ${sample.error}`;
        else this.pending.push(sample);
      });
      let stderr = "";
      proc.stderr.on("data", (c: Buffer) => {
        stderr = (stderr + c.toString()).slice(-2000);
      });
      proc.on("exit", (code, signal) => {
        if (!this.stopped)
          this.lastError = `the sampler in ${cluster} exited (${String(code ?? signal)}): ${stderr}`;
      });
      this.procs.push(proc);
    }
  }

  /** The samples that came since the last take; none is a sample missed (it throws, saying why). */
  take(): IsrSample[] {
    const out = this.pending.splice(0);
    if (out.length === 0)
      throw new Error(`no new ISR sample${this.lastError ? ` (${this.lastError})` : ""}`);
    return out;
  }

  stop(): void {
    this.stopped = true;
    for (const p of this.procs) p.kill("SIGKILL");
  }
}

/**
 * What in one ISR sample breaks "no partition below `minInSync` in sync", or
 * undefined; a sample without partitions is no sample (it throws).
 */
export function isrViolation(
  sample: IsrSample,
  topic: string,
  minInSync: number,
): string | undefined {
  const parts = sample.partitions ?? [];
  if (parts.length === 0) throw new Error(`${topic} has no partitions in a sample`);
  const below = parts.find((p) => p.isr.length < minInSync);
  return below
    ? `${topic}-${below.partition} had ${below.isr.length} in sync (${below.isr.join(",")} of ${below.replicas.join(",")})`
    : undefined;
}

/** Each Kafka pod seen, `cluster/name` to its uid and readiness. */
export type PodSample = Map<string, { uid: string; ready: boolean }>;

/** How many of the pods there were before are down in a sample: not Ready, or gone (deleted, not yet recreated). */
export function podsDown(before: ReadonlyMap<string, string>, sample: PodSample): number {
  const gone = [...before.keys()].filter((k) => !sample.has(k)).length;
  return gone + [...sample.values()].filter((p) => !p.ready).length;
}

/**
 * Watches a roll from outside and checks it throughout: which nodes' pods
 * were recreated, in order (by pod uid); never more than one Kafka pod down
 * at once (a deleted pod not yet recreated counts), sampled from every API
 * server; and no partition of `topic` below `minInSync` in-sync replicas,
 * from Kafka's own Admin client. Either check fails at its first violation
 * (`during` rejects at once) and fails when it could not sample for more
 * than a few seconds.
 */
export class RollWatch {
  readonly restarted: number[] = [];
  /** The most pods not Ready at once, over every sample. */
  mostNotReady = 0;
  /** The fewest in-sync replicas any partition had, over every sample. */
  fewestInSync = Number.POSITIVE_INFINITY;
  /** Kafka pods down (not Ready, or gone) in the latest sample; none taken yet: infinite. */
  down = Number.POSITIVE_INFINITY;
  private readonly pods: Always;
  private readonly isr: Always;
  private readonly feed: IsrFeed;

  private constructor(
    private readonly bed: KafkaStretchBed,
    private readonly before: Map<string, string>,
    topic: string,
    o: { minInSync: number; maxNotReady: number },
  ) {
    const podOf = new Map(bed.nodes.map((n) => [`${n.cluster}/${n.pod}`, n.id]));
    const seen = new Map(before);
    this.pods = always(
      `never more than ${o.maxNotReady} Kafka pod(s) down at once`,
      async () => {
        const sample = await this.podSample();
        const notReady = podsDown(this.before, sample);
        for (const [key, pod] of sample) {
          if (seen.get(key) !== pod.uid) {
            seen.set(key, pod.uid);
            this.restarted.push(podOf.get(key) ?? -1);
          }
        }
        this.mostNotReady = Math.max(this.mostNotReady, notReady);
        this.down = notReady;
        return notReady > o.maxNotReady ? `${notReady} pods not Ready` : undefined;
      },
      { intervalMs: 300, firstSampleWithinMs: 60_000 },
    );
    this.feed = new IsrFeed(bed, bed.clusters.slice(0, 2), topic);
    this.isr = always(
      `no partition of ${topic} below ${o.minInSync} in sync`,
      () => {
        for (const sample of this.feed.take()) {
          const violation = isrViolation(sample, topic, o.minInSync);
          for (const p of sample.partitions ?? [])
            this.fewestInSync = Math.min(this.fewestInSync, p.isr.length);
          if (violation) return violation;
        }
        return undefined;
      },
      // The samplers are JVMs: they may take a while to start on a loaded machine.
      { firstSampleWithinMs: 120_000 },
    );
  }

  /** Every Kafka pod of every cluster, `cluster/name` to uid. */
  static async pods(bed: KafkaStretchBed): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [cluster, client] of bed.remotes) {
      const pods = await client.list("v1", "Pod", { namespace: bed.namespace });
      for (const p of pods.items)
        out.set(`${cluster}/${p.metadata.name ?? ""}`, p.metadata.uid ?? "");
    }
    return out;
  }

  /** Starts watching, once both checks have their first sample. */
  static async start(
    bed: KafkaStretchBed,
    topic: string,
    o: { minInSync?: number; maxNotReady?: number } = {},
  ): Promise<RollWatch> {
    await bed.kafka.readNodes();
    const watch = new RollWatch(bed, await RollWatch.pods(bed), topic, {
      minInSync: o.minInSync ?? 2,
      maxNotReady: o.maxNotReady ?? 1,
    });
    await watch.during(
      eventually(
        "the roll watch's first samples",
        () => (watch.pods.samples > 0 && watch.isr.samples > 0 ? true : undefined),
        120,
        200,
      ),
    );
    return watch;
  }

  get nodes(): number {
    return this.before.size;
  }

  /**
   * Until every Kafka pod is Ready by its own condition, then the claim: the
   * claim's Ready reaches it through the provider and the engine, so just
   * after a pod is created again it may still show the Ready of before.
   */
  async allUp(seconds: number): Promise<void> {
    await this.during(
      eventually("every Kafka pod Ready", () => (this.down === 0 ? true : undefined), seconds, 300),
    );
    await this.during(this.bed.waitReady(seconds));
  }

  /** `p`, unless a check fails first: then that failure, at once. */
  during<T>(p: Promise<T>): Promise<T> {
    return this.pods.during(this.isr.during(p));
  }

  /** Stops watching; throws the first violation or a gap in either check. */
  async stop(): Promise<void> {
    try {
      await this.pods.stop();
      await this.isr.stop();
    } finally {
      this.feed.stop();
    }
  }

  private async podSample(): Promise<PodSample> {
    const out: PodSample = new Map();
    for (const [cluster, client] of this.bed.remotes) {
      const pods = await client.list<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >("v1", "Pod", { namespace: this.bed.namespace });
      for (const p of pods.items)
        out.set(`${cluster}/${p.metadata.name ?? ""}`, {
          uid: p.metadata.uid ?? "",
          ready: p.status?.conditions?.find((c) => c.type === "Ready")?.status === "True",
        });
    }
    return out;
  }
}

/**
 * Creates a topic and waits until every partition has a leader (returned).
 * Right after
 * a cluster forms on a loaded machine, the controllers may answer admin
 * requests late for a minute or more (each describe can time out after 30 s):
 * the wait allows for that, as createTopic does; it asserts no timing.
 */
export async function createTopicWithLeaders(
  bed: KafkaBed,
  cluster: string,
  topic: string,
  partitions: number,
): Promise<PartitionInfo[]> {
  await createTopic(bed, cluster, topic, partitions);
  return eventually(
    `${topic} has leaders`,
    async () => {
      const p = await describeTopic(bed, cluster, topic);
      return p.length === partitions && p.every((x) => x.leader >= 0) ? p : undefined;
    },
    240,
    2000,
  );
}

/**
 * A topic created with the cluster's defaults and an idempotent acks=all
 * stream into it, already acknowledged: what the day-2 tests run throughout.
 */
export async function startStream(
  bed: KafkaStretchBed,
  topic: string,
  partitions: number,
  perSecond = 250,
): Promise<NumberedProducer> {
  await createTopicWithLeaders(bed, "east", topic, partitions);
  // Long enough for any test file; stopped by the test.
  const producer = new NumberedProducer(bed, "east", topic, 1_000_000, perSecond);
  await eventually("the stream is acknowledged", () => {
    if (producer.failure) throw new Error(producer.failure);
    return producer.acks.length >= 500 ? true : undefined;
  });
  return producer;
}

/**
 * Stops the stream and reads the topic back: no producer error, every
 * acknowledged value exactly once (a value written but not yet acknowledged
 * when it was stopped may be read too).
 */
export async function assertNothingLost(
  bed: KafkaStretchBed,
  producer: NumberedProducer,
  topic: string,
): Promise<void> {
  producer.stop();
  assert.deepEqual(producer.errors, [], "the producer gave up on messages");
  assert.ok(producer.acks.length > 1000, `only ${producer.acks.length} acknowledged`);
  const consumed = await consumeAll(bed, "north", topic);
  const acked = new Set(producer.acks.map((a) => a.value));
  assert.equal(
    new Set(consumed).size,
    consumed.length,
    "a message was written twice (the same value at two offsets)",
  );
  assert.deepEqual(
    checksum(consumed.filter((v) => acked.has(v))),
    checksum([...acked]),
    "every acknowledged message read back",
  );
}

/**
 * Applies a change that restarts `restarts` nodes and checks the roll kept
 * Kafka writable: each changed node restarted once and no other, never two
 * down at once, no partition of `topic` below two in sync, and the stream's
 * producer saw no error.
 */
export async function assertSafeRoll(
  bed: KafkaStretchBed,
  producer: NumberedProducer,
  topic: string,
  change: () => Promise<void>,
  restarts: number,
  log: (m: string) => void,
): Promise<void> {
  const watch = await RollWatch.start(bed, topic);
  try {
    await watch.during(
      (async () => {
        await change();
        await eventually(
          `${restarts} nodes restarted`,
          () => (watch.restarted.length >= restarts ? true : undefined),
          900,
          2000,
        );
        await watch.allUp(300);
      })(),
    );
  } finally {
    await watch.stop();
  }
  log(`restart order: ${watch.restarted.join(", ")}; fewest in sync ${watch.fewestInSync}`);
  assert.equal(watch.restarted.length, restarts, "each changed node restarted once, no other");
  assert.equal(watch.mostNotReady, 1, "a node was down, never more than one at a time");
  assert.equal(producer.failure, undefined);
  assert.deepEqual(producer.errors, [], "the plain-listener producer saw no error");
}

/** A KafkaUser's Secret (or any Secret of the claim's namespace), decoded. */
export async function secretData(
  bed: KafkaStretchBed,
  namespace: string,
  name: string,
): Promise<Record<string, Buffer>> {
  const s = await bed.central.get<KubeObject & { data?: Record<string, string> }>(
    "v1",
    "Secret",
    name,
    namespace,
  );
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]),
  );
}

/** Client settings of a TLS listener: the cluster CA from the claim's connection Secret, and `user`'s keystore if given. */
export async function tlsClientConfig(
  bed: KafkaStretchBed,
  namespace: string,
  user?: string,
): Promise<Record<string, string>> {
  const ca = bed.clientFile("cluster-ca.pem", (await bed.connection())["ca.crt"] ?? "");
  const keystore: Record<string, string> = {};
  if (user) {
    const s = await secretData(bed, namespace, user);
    keystore["ssl.keystore.type"] = "PKCS12";
    keystore["ssl.keystore.location"] = bed.clientFile(
      `${user}-${Date.now()}.p12`,
      s["user.p12"] ?? Buffer.alloc(0),
    );
    keystore["ssl.keystore.password"] = s["user.password"]?.toString() ?? "";
  }
  return {
    "security.protocol": "SSL",
    ...keystore,
    "ssl.truststore.type": "PEM",
    "ssl.truststore.location": ca,
  };
}

/** `kubectl drain` as a platform team runs it for a node upgrade (Strimzi's documented flags). */
export const drainArgs = (node: string): string[] => [
  "drain",
  node,
  "--ignore-daemonsets",
  "--delete-emptydir-data",
  "--timeout=900s",
];
