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
 * Then the producer's pauses (PHASES includes "pauses"): on a tuned cluster
 * at 10 ms between clusters running Kafka 4.2.1, an idempotent acks=all
 * producer at a fixed 500 msgs/s throughout; acknowledgement latency p99 and
 * max before anything happens, during a rolling restart (a configuration
 * change, every node once), during an upgrade to 4.3.1, during `kubectl
 * drain` of the node running east's broker (until its pod is back Ready
 * elsewhere), and while a broker
 * that joined takes its share: BULK_MB (default 200) MiB written to a topic
 * of 12 partitions first, then east's broker pool grown by one with
 * spec.rebalance.throttleBytesPerSecond REBALANCE_THROTTLE (default 10 MiB/s);
 * from the claim's edit until the claim no longer lists the broker as
 * joining, with the bytes Kafka reports on the new broker (kafka-log-dirs);
 * also from the first batch of moves to the end, and a baseline of 30 s just
 * before the edit (after 30 s in which the producer catches up behind the
 * bulk write), with when the worst acknowledgement was sent. Latency is a
 * message's acknowledgement time minus its scheduled send time at the fixed
 * rate (Kafka's VerifiableProducer paces sends so), above the fastest
 * message's: what a client sees, blocking included.
 *
 * Prints each figure and writes bench-results/kafka.json
 * ({"runs":[{"latencyMs","config","msgsPerSec"}],"pauses":{...}}). Env:
 * RECORDS (per run, default 200000), RECORD_SIZE (bytes, default 1024),
 * BULK_MB, REBALANCE_THROTTLE, REBALANCE_MAX_MOVES, ROLLS (0: no rolling restart or upgrade),
 * KAFKA_CONFIG (JSON, merged into every claim's spec.kafka.config),
 * LATENCIES (default 0,10,50), CONFIGS (default default,tuned; also
 * broker-only, producer-only), PHASES (default throughput,pauses).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { latencyDefaults, producerDefaults } from "../functions/stretch-kafka/kafka-config.ts";
import { threeClusterClaim } from "../test/kafka/claims.ts";
import { KafkaStretchBed } from "../devbed/kafka/stretch-bed.ts";
import type { KubeObject } from "../controller/kube/dynamic.ts";
import cloneDeep from "lodash/cloneDeep.js";
import {
  createTopic,
  describeTopic,
  drainArgs,
  NumberedProducer,
  RollWatch,
} from "../test/kafka/proofs.ts";
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
const phases = (process.env["PHASES"] ?? "throughput,pauses").split(",");
const partitions = 6;
const bulkMiB = Number(process.env["BULK_MB"] ?? 200);
const rebalanceThrottle = Number(process.env["REBALANCE_THROTTLE"] ?? 10 * 1024 * 1024);
/** REBALANCE_MAX_MOVES: spec.rebalance.maxPartitionMoves (partitions whose data moves at once). */
const rebalanceMaxMoves = process.env["REBALANCE_MAX_MOVES"]
  ? Number(process.env["REBALANCE_MAX_MOVES"])
  : undefined;
/** ROLLS=0 skips the rolling restart and the upgrade (to look at the rebalance alone). */
const rolls = process.env["ROLLS"] !== "0";
/** KAFKA_CONFIG (JSON): merged into every claim's spec.kafka.config, to compare settings. */
const kafkaConfig = process.env["KAFKA_CONFIG"]
  ? (JSON.parse(process.env["KAFKA_CONFIG"]) as Record<string, string | number>)
  : undefined;

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
  const spec = c["spec"] as { kafka: { config?: Record<string, string | number> } };
  if (config === "default" || config === "producer-only") spec.kafka.config = { ...kafkaDefaults };
  if (kafkaConfig) spec.kafka.config = { ...spec.kafka.config, ...kafkaConfig };
  return c;
}

/** Kafka's ProducerPerformance from east, as fast as Kafka takes it; its output. */
async function produceFlat(
  bed: KafkaStretchBed,
  topic: string,
  count: number,
  size: number,
  props: string,
): Promise<string> {
  const { stdout } = await bed.tool("east", "org.apache.kafka.tools.ProducerPerformance", [
    "--topic",
    topic,
    "--num-records",
    String(count),
    "--record-size",
    String(size),
    "--throughput",
    "-1",
    "--producer.config",
    props,
    "--producer-props",
    `bootstrap.servers=${bed.bootstrap("east")}`,
  ]);
  return stdout;
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
  const stdout = await produceFlat(bed, topic, records, recordSize, props);
  // The last summary line: "N records sent, X records/sec (Y MB/sec), …"
  const summary = stdout
    .split("\n")
    .filter((l) => l.startsWith(`${records} records sent`))
    .pop();
  const rate = /records sent, ([\d.]+) records\/sec/.exec(summary ?? "")?.[1];
  if (!rate) throw new Error(`no summary from ProducerPerformance:\n${stdout.slice(-2000)}`);
  return Math.round(Number(rate));
}

interface Pause {
  seconds: number;
  messages: number;
  p99Ms: number;
  maxMs: number;
}

/** p99 and max latency of the messages scheduled within [from, to). */
function pause(lat: { at: number; ms: number }[], from: number, to: number): Pause {
  const ms = lat
    .filter((l) => l.at >= from && l.at < to)
    .map((l) => l.ms)
    .sort((a, b) => a - b);
  return {
    seconds: Math.round((to - from) / 1000),
    messages: ms.length,
    p99Ms: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))] ?? 0,
    maxMs: ms.at(-1) ?? 0,
  };
}

/** Writes `mib` MiB to a new topic of 12 partitions, as fast as Kafka takes it. */
/**
 * Each second from `from` to `to` whose worst acknowledgement took over
 * 500 ms: the worst, and the partitions of the messages sent in it that took
 * over 500 ms; to lay beside the provider's log lines (LOG_LEVEL=info).
 */
function timeline(
  acks: { partition: number }[],
  lat: { at: number; ms: number }[],
  from: number,
  to: number,
): void {
  const slow = new Map<number, { ms: number; partitions: Set<number> }>();
  lat.forEach((l, i) => {
    if (l.at < from || l.at >= to || l.ms <= 500) return;
    const s = Math.floor((l.at - from) / 1000);
    const e = slow.get(s) ?? { ms: 0, partitions: new Set<number>() };
    e.ms = Math.max(e.ms, l.ms);
    e.partitions.add(acks[i]?.partition ?? -1);
    slow.set(s, e);
  });
  for (const [s, e] of [...slow].sort((a, b) => a[0] - b[0]))
    log(
      `  +${s} s (${new Date(from + s * 1000).toISOString()}): worst ${e.ms} ms, partitions ${[...e.partitions].sort((a, b) => a - b).join(",")}`,
    );
}

/**
 * `kubectl drain` of the node running east's first broker, from its start
 * until every Kafka pod is back and Ready; then the node is uncordoned.
 */
async function drainNode(bed: KafkaStretchBed): Promise<[number, number]> {
  await bed.kafka.readNodes();
  const broker = bed.nodes.find((n) => n.cluster === "east" && n.roles.includes("broker"));
  if (!broker) throw new Error("no broker in east");
  const east = bed.remotes.get("east");
  const pod = await east?.get<KubeObject & { spec?: { nodeName?: string } }>(
    "v1",
    "Pod",
    broker.pod,
    bed.namespace,
  );
  const node = pod?.spec?.nodeName;
  if (!node) throw new Error(`${broker.pod} is on no node`);
  const from = Date.now();
  const drain = await bed.kubectl("east", drainArgs(node));
  const result = await drain.done;
  if (result.code !== 0) throw new Error(`kubectl drain failed: ${result.output}`);
  await eventually(`${broker.pod} created again`, async () => {
    const p = await east?.find("v1", "Pod", broker.pod, bed.namespace);
    return p && p.metadata.uid !== pod.metadata.uid ? true : undefined;
  });
  await bed.waitReady(300);
  const to = Date.now();
  const uncordon = await (await bed.kubectl("east", ["uncordon", node])).done;
  if (uncordon.code !== 0) throw new Error(`kubectl uncordon failed: ${uncordon.output}`);
  log(`node drain of ${node} (${broker.pod}): ${Math.round((to - from) / 1000)} s`);
  return [from, to];
}

async function fill(bed: KafkaStretchBed, topic: string, mib: number): Promise<void> {
  await createTopic(bed, "east", topic, 12);
  const props = bed.clientConfig(`${topic}.properties`, { acks: "all", ...producerDefaults });
  await produceFlat(bed, topic, mib * 1024, 1024, props);
}

/** Bytes of partition replicas a broker holds, as Kafka reports them (kafka-log-dirs). */
async function bytesOn(bed: KafkaStretchBed, broker: number): Promise<number> {
  const { stdout } = await bed.tool("east", "org.apache.kafka.tools.LogDirsCommand", [
    "--bootstrap-server",
    bed.bootstrap("east"),
    "--describe",
    "--broker-list",
    String(broker),
  ]);
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  const report = JSON.parse(line ?? "{}") as {
    brokers?: { logDirs?: { partitions?: { size?: number }[] }[] }[];
  };
  return (report.brokers ?? [])
    .flatMap((b) => b.logDirs ?? [])
    .flatMap((d) => d.partitions ?? [])
    .reduce((sum, p) => sum + (p.size ?? 0), 0);
}

interface Rebalance extends Pause {
  /** What was written before, and the throttle. */
  dataMiB: number;
  throttleBytesPerSecond: number;
  /** What Kafka reports on the new broker once done. */
  movedMiB: number;
  /** From the first report of moves to the end. */
  movingSeconds: number;
}

async function pauses(): Promise<Record<string, Pause | Rebalance>> {
  const rate = 500;
  const c = claim("tuned");
  const spec = c["spec"] as {
    kafka: Record<string, unknown>;
    rebalance?: { throttleBytesPerSecond: number; maxPartitionMoves?: number };
    clusters: { name: string; nodePools: { name: string; replicas: number }[] }[];
  };
  spec.kafka["version"] = "4.2.1";
  const bed = await KafkaStretchBed.start({ claim: cloneDeep(c), latencyMs: 10, log });
  const apply = async (edit: () => void): Promise<void> => {
    edit();
    await bed.central.apply(cloneDeep(c), { fieldManager: "test" });
  };
  /** Until every node has restarted once and the claim is Ready; when it started. */
  const roll = async (what: string, edit: () => void): Promise<[number, number]> => {
    const watch = await RollWatch.start(bed, "pauses");
    const from = Date.now();
    try {
      await watch.during(
        (async () => {
          await apply(edit);
          await eventually(
            `${what}: every node restarted`,
            () => (watch.restarted.length >= watch.nodes ? true : undefined),
            1200,
            2000,
          );
          await bed.waitReady(300);
        })(),
      );
    } finally {
      await watch.stop();
    }
    log(`${what}: ${Math.round((Date.now() - from) / 1000)} s`);
    return [from, Date.now()];
  };
  try {
    await createTopic(bed, "east", "pauses", partitions);
    await eventually("pauses has leaders", async () => {
      const p = await describeTopic(bed, "east", "pauses");
      return p.length === partitions && p.every((x) => x.leader >= 0) ? true : undefined;
    });
    const producer = new NumberedProducer(bed, "east", "pauses", rate * 1800, rate);
    try {
      await eventually("the producer is acknowledged", () =>
        producer.acks.length > 0 ? true : undefined,
      );
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 30_000));
      const settled = Date.now();
      const rolling = rolls
        ? await roll("rolling restart", () => {
            spec.kafka["config"] = { ...kafkaConfig, "log.retention.hours": 100 };
          })
        : undefined;
      const upgrade = rolls
        ? await roll("upgrade 4.2.1 -> 4.3.1", () => {
            spec.kafka["version"] = "4.3.1";
          })
        : undefined;
      const drained = await drainNode(bed);
      await fill(bed, "bulk", bulkMiB);
      log(`${bulkMiB} MiB written to bulk`);
      // The producer caught up behind the bulk write first; then a baseline
      // just before the rebalance, on the same data.
      await new Promise((r) => setTimeout(r, 30_000));
      const quiet = Date.now();
      await new Promise((r) => setTimeout(r, 30_000));
      const grow = Date.now();
      log(`growing east's broker pool at ${new Date(grow).toISOString()}`);
      let moving = 0;
      await apply(() => {
        spec.rebalance = {
          throttleBytesPerSecond: rebalanceThrottle,
          ...(rebalanceMaxMoves ? { maxPartitionMoves: rebalanceMaxMoves } : {}),
        };
        const east = spec.clusters
          .find((x) => x.name === "east")
          ?.nodePools.find((p) => p.name === "brokers");
        if (east) east.replicas += 1;
      });
      const joined = await eventually(
        "the new broker has taken its share",
        async () => {
          const found = await bed.central.find(
            c.apiVersion,
            c.kind,
            c.metadata.name ?? "",
            c.metadata.namespace,
          );
          const st = found?.["status"] as
            | {
                kafka?: {
                  brokers?: number[];
                  joiningBrokers?: number[];
                  live?: { rebalance?: { state?: string } };
                };
              }
            | undefined;
          if (!moving && st?.kafka?.live?.rebalance?.state === "Moving") moving = Date.now();
          const brokers = st?.kafka?.brokers ?? [];
          return moving && brokers.length > 0 && !st?.kafka?.joiningBrokers
            ? Math.max(...brokers)
            : undefined;
        },
        1800,
        1000,
      );
      const grown: [number, number] = [grow, Date.now()];
      const movedMiB = Math.round((await bytesOn(bed, joined)) / 1024 / 1024);
      log(
        `rebalance onto broker ${joined}: ${Math.round((grown[1] - grow) / 1000)} s, ${Math.round((grown[1] - moving) / 1000)} s moving, ${movedMiB} MiB on it`,
      );
      producer.stop();
      if (producer.errors.length > 0)
        throw new Error(`producer errors: ${producer.errors[0] ?? ""}`);
      // Scheduled send time of message v: t0 + v / rate, t0 from the fastest message.
      const t0 = producer.acks.reduce(
        (m, a) => Math.min(m, a.at - (a.value * 1000) / rate),
        Number.POSITIVE_INFINITY,
      );
      const lat = producer.acks.map((a) => {
        const at = t0 + (a.value * 1000) / rate;
        return { at, ms: Math.round(a.at - at) };
      });
      const worst = lat
        .filter((l) => l.at >= grow && l.at < grown[1])
        .reduce((w, l) => (l.ms > w.ms ? l : w), { at: grow, ms: 0 });
      log(
        `rebalance: worst acknowledgement ${worst.ms} ms, sent ${Math.round((worst.at - grow) / 1000)} s after the pool grew (moves began at ${Math.round((moving - grow) / 1000)} s)`,
      );
      timeline(producer.acks, lat, grow, grown[1]);
      const out = {
        before: pause(lat, started + 5000, settled),
        ...(rolling ? { rollingRestart: pause(lat, ...rolling) } : {}),
        ...(upgrade ? { upgrade: pause(lat, ...upgrade) } : {}),
        nodeDrain: pause(lat, ...drained),
        beforeRebalance: pause(lat, quiet, grow),
        rebalanceMoving: pause(lat, moving, grown[1]),
        rebalance: {
          ...pause(lat, ...grown),
          dataMiB: bulkMiB,
          throttleBytesPerSecond: rebalanceThrottle,
          movedMiB,
          movingSeconds: Math.round((grown[1] - moving) / 1000),
        },
      };
      for (const [k, v] of Object.entries(out))
        log(
          `${k}: p99 ${v.p99Ms} ms, max ${v.maxMs} ms (${v.messages} messages over ${v.seconds} s)`,
        );
      return out;
    } finally {
      producer.stop();
    }
  } finally {
    await bed.stop();
  }
}

async function main(): Promise<void> {
  const runs: { latencyMs: number; config: Config; msgsPerSec: number }[] = [];
  for (const config of phases.includes("throughput") ? configs : []) {
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
  const paused = phases.includes("pauses") ? await pauses() : undefined;
  // A run of one phase keeps the other's last figures.
  const last = existsSync("bench-results/kafka.json")
    ? (JSON.parse(readFileSync("bench-results/kafka.json", "utf8")) as Record<string, unknown>)
    : {};
  mkdirSync("bench-results", { recursive: true });
  writeFileSync(
    "bench-results/kafka.json",
    JSON.stringify(
      {
        ...last,
        ...(phases.includes("throughput") ? { runs: main } : {}),
        ...(ablation.length > 0 ? { ablation } : {}),
        ...(paused ? { pauses: paused } : {}),
      },
      null,
      2,
    ) + "\n",
  );
  log("written to bench-results/kafka.json");
}

await main();
