/**
 * What the real-Kafka tests ask of Kafka, with Kafka's own tools (the
 * admin, producer and consumer clients from the same jars): the quorum, where
 * replicas land, and a numbered stream produced while a cluster dies.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { RunError } from "../../devbed/run.ts";
import type { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";

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
  await bed.tool(cluster, "org.apache.kafka.tools.TopicCommand", [
    "--bootstrap-server",
    bed.bootstrap(cluster),
    "--create",
    "--topic",
    topic,
    "--partitions",
    String(partitions),
  ]);
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

  constructor(bed: KafkaBed, cluster: string, topic: string, messages: number, perSecond: number) {
    const config = bed.clientConfig(`producer-${topic}.properties`, {
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
      bed.bootstrap(cluster),
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
