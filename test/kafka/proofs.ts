/**
 * What the real-Kafka tests ask of Kafka, with Kafka's own tools (the
 * admin, producer and consumer clients from the same jars): the quorum, where
 * replicas land, and a numbered stream produced while a cluster dies.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { RunError } from "../../devbed/run.ts";
import type { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { eventually } from "../../devbed/eventually.ts";
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
  const { stdout } = await bed.tool(cluster, "org.apache.kafka.tools.TopicCommand", [
    "--bootstrap-server",
    bed.bootstrap(cluster),
    "--describe",
    "--topic",
    topic,
    ...extra,
  ]);
  const ids = (s: string | undefined): number[] => (s ?? "").split(",").filter(Boolean).map(Number);
  return stdout
    .split("\n")
    .filter((l) => /\bPartition: \d+/.test(l))
    .map((l) => ({
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
    ])
    .catch((err: unknown) => {
      // The consumer exits non-zero on its timeout; what it printed still counts.
      if (err instanceof RunError) return { stdout: err.stdout };
      throw err;
    });
  return stdout
    .split("\n")
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** Count and digest of a multiset of message values, order-independent. */
export function checksum(values: number[]): { count: number; sha256: string } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    sha256: createHash("sha256").update(sorted.join(",")).digest("hex"),
  };
}

/**
 * Watches a roll from outside: which nodes' pods were recreated, in order
 * (by pod uid), the most pods not Ready at once (a deleted pod not yet
 * recreated counts), and the fewest in-sync replicas any partition of a topic
 * had, sampled with Kafka's admin tool.
 */
export class RollWatch {
  readonly restarted: number[] = [];
  mostNotReady = 0;
  fewestInSync = Number.POSITIVE_INFINITY;
  private on = true;
  private readonly loops: Promise<void>[];

  private constructor(
    private readonly bed: KafkaStretchBed,
    private readonly before: Map<string, string>,
    topic: string,
  ) {
    const podOf = new Map(bed.nodes.map((n) => [`${n.cluster}/${n.pod}`, n.id]));
    this.loops = [this.watchPods(podOf), this.watchIsr(topic)];
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

  static async start(bed: KafkaStretchBed, topic: string): Promise<RollWatch> {
    await bed.kafka.readNodes();
    return new RollWatch(bed, await RollWatch.pods(bed), topic);
  }

  get nodes(): number {
    return this.before.size;
  }

  async stop(): Promise<void> {
    this.on = false;
    await Promise.all(this.loops);
  }

  private async watchPods(podOf: Map<string, number>): Promise<void> {
    const seen = new Map(this.before);
    while (this.on) {
      let notReady = 0;
      for (const [cluster, client] of this.bed.remotes) {
        const pods = await client.list<
          KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
        >("v1", "Pod", { namespace: this.bed.namespace });
        for (const p of pods.items) {
          const key = `${cluster}/${p.metadata.name ?? ""}`;
          if (p.status?.conditions?.find((c) => c.type === "Ready")?.status !== "True") notReady++;
          if (seen.get(key) !== p.metadata.uid) {
            seen.set(key, p.metadata.uid ?? "");
            this.restarted.push(podOf.get(key) ?? -1);
          }
        }
        notReady += [...this.before.keys()].filter(
          (k) =>
            k.startsWith(`${cluster}/`) &&
            !pods.items.some((p) => `${cluster}/${p.metadata.name ?? ""}` === k),
        ).length;
      }
      this.mostNotReady = Math.max(this.mostNotReady, notReady);
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  private async watchIsr(topic: string): Promise<void> {
    while (this.on) {
      const parts = await describeTopic(this.bed, this.bed.clusters[0] ?? "", topic).catch(
        () => [],
      );
      for (const p of parts) this.fewestInSync = Math.min(this.fewestInSync, p.isr.length);
      await new Promise((r) => setTimeout(r, 1000));
    }
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
  assert.equal(new Set(consumed).size, consumed.length, "a message was read twice");
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
    await change();
    await eventually(
      `${restarts} nodes restarted`,
      () => (watch.restarted.length >= restarts ? true : undefined),
      900,
      2000,
    );
    await bed.waitReady(300);
  } finally {
    await watch.stop();
  }
  log(`restart order: ${watch.restarted.join(", ")}`);
  assert.equal(watch.restarted.length, restarts, "each changed node restarted once, no other");
  assert.equal(watch.mostNotReady, 1, "never more than one node down at a time");
  assert.ok(watch.fewestInSync >= 2, `a partition fell to ${watch.fewestInSync} in sync`);
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
