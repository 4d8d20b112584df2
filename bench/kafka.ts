/**
 * `npm run bench:kafka`: producer throughput of a stretched Kafka cluster at
 * 0, 10 and 50 ms of added one-way latency between clusters (each direction,
 * so a cross-cluster round trip gains twice that), with Kafka's default
 * configuration and with stretch-kafka's, on real Kafka through the whole
 * path (devbed/kafka/stretch-bed.ts: claim, engine, function, provider,
 * Strimzi player, Kafka processes run by the node agents).
 *
 * - default: a claim that sets stretch-kafka's latency settings back to
 *   Kafka's own defaults (spec.kafka.config), and a producer with Kafka's
 *   defaults;
 * - tuned: the rendered configuration as is, and a producer with the
 *   settings the function publishes in the connection Secret
 *   (`producer.properties`).
 * Both keep what losing a cluster needs: replication factor 3, min ISR 2,
 * acks=all, idempotence.
 *
 * Prints each figure and writes bench-results/kafka.json
 * ({"runs":[{"latencyMs","config","msgsPerSec"}]}). Env: RECORDS (per run,
 * default 200000), RECORD_SIZE (bytes, default 1024), LATENCIES (default
 * 0,10,50), CONFIGS (default default,tuned; also broker-only, producer-only).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { latencyDefaults, producerDefaults } from "../functions/stretch-kafka/kafka-config.ts";
import { threeClusterClaim } from "../test/kafka/claims.ts";
import { KafkaStretchBed } from "../devbed/kafka/stretch-bed.ts";
import { createTopic, describeTopic } from "../test/kafka/proofs.ts";
import { eventually } from "../devbed/eventually.ts";

/**
 * default and tuned as above; the two halves of tuned, to show which part
 * does what (CONFIGS=broker-only,producer-only; reported under "ablation"):
 * broker-only is our broker configuration with Kafka's producer defaults,
 * producer-only Kafka's broker defaults with our producer.
 */
type Config = "default" | "tuned" | "broker-only" | "producer-only";

const records = Number(process.env["RECORDS"] ?? 200000);
const recordSize = Number(process.env["RECORD_SIZE"] ?? 1024);
const latencies = (process.env["LATENCIES"] ?? "0,10,50").split(",").map(Number);
const configs = (process.env["CONFIGS"] ?? "default,tuned").split(",") as Config[];
const partitions = 6;

const log = (m: string): void => {
  console.log(`[bench:kafka] ${m}`);
};

/** Kafka 4.1's own defaults for the settings stretch-kafka tunes for latency. */
const kafkaDefaults: Record<string, string> = {
  "socket.send.buffer.bytes": "102400",
  "socket.receive.buffer.bytes": "102400",
  "replica.socket.receive.buffer.bytes": "65536",
  "num.replica.fetchers": "1",
  "replica.fetch.max.bytes": "1048576",
  "replica.fetch.response.max.bytes": "10485760",
};
const untuned = Object.keys(latencyDefaults).filter((k) => !(k in kafkaDefaults));
if (untuned.length > 0) throw new Error(`no Kafka default given here for ${untuned.join(", ")}`);

function claim(config: Config): ReturnType<typeof threeClusterClaim> {
  const c = threeClusterClaim("bench", "static");
  if (config === "default" || config === "producer-only") {
    const spec = c["spec"] as { kafka: { config?: Record<string, string> } };
    spec.kafka.config = { ...kafkaDefaults };
  }
  return c;
}

async function measure(bed: KafkaStretchBed, config: Config, latencyMs: number): Promise<number> {
  await bed.setLatency(latencyMs);
  const topic = `bench-${config}-${latencyMs}`;
  await createTopic(bed, "east", topic, partitions);
  await eventually(`${topic} has leaders`, async () => {
    const p = await describeTopic(bed, "east", topic);
    return p.length === partitions && p.every((x) => x.leader >= 0) ? true : undefined;
  });
  const props = bed.clientConfig(`${topic}.properties`, {
    acks: "all",
    "enable.idempotence": "true",
    ...(config === "tuned" || config === "producer-only" ? producerDefaults : {}),
  });
  const { stdout } = await bed.tool("east", "org.apache.kafka.tools.ProducerPerformance", [
    "--topic",
    topic,
    "--num-records",
    String(records),
    "--record-size",
    String(recordSize),
    "--throughput",
    "-1",
    "--producer.config",
    props,
    "--producer-props",
    `bootstrap.servers=${bed.bootstrap("east")}`,
  ]);
  // The last summary line: "N records sent, X records/sec (Y MB/sec), …"
  const summary = stdout
    .split("\n")
    .filter((l) => l.startsWith(`${records} records sent`))
    .pop();
  const rate = /records sent, ([\d.]+) records\/sec/.exec(summary ?? "")?.[1];
  if (!rate) throw new Error(`no summary from ProducerPerformance:\n${stdout.slice(-2000)}`);
  return Math.round(Number(rate));
}

async function main(): Promise<void> {
  const runs: { latencyMs: number; config: Config; msgsPerSec: number }[] = [];
  for (const config of configs) {
    const bed = await KafkaStretchBed.start({ claim: claim(config), log });
    try {
      for (const latencyMs of latencies) {
        const msgsPerSec = await measure(bed, config, latencyMs);
        runs.push({ latencyMs, config, msgsPerSec });
        const base = runs.find((r) => r.config === config && r.latencyMs === 0)?.msgsPerSec;
        const drop = base ? ` (${Math.round((1 - msgsPerSec / base) * 100)}% below 0 ms)` : "";
        log(`${config} at ${latencyMs} ms: ${msgsPerSec} msgs/s${drop}`);
      }
    } finally {
      await bed.stop();
    }
  }
  const main = runs.filter((r) => r.config === "default" || r.config === "tuned");
  const ablation = runs.filter((r) => !main.includes(r));
  mkdirSync("bench-results", { recursive: true });
  writeFileSync(
    "bench-results/kafka.json",
    JSON.stringify({ runs: main, ...(ablation.length > 0 ? { ablation } : {}) }, null, 2) + "\n",
  );
  log("written to bench-results/kafka.json");
}

await main();
