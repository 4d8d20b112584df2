/**
 * Using a running sandbox from another terminal:
 *
 *   npm run sandbox -- produce --topic demo [--in east]
 *   npm run sandbox -- consume --topic demo [--in west]
 *   npm run sandbox -- stop-cluster west
 *   npm run sandbox -- start-cluster west
 *   npm run sandbox -- kubectl east drain east-node-1 --ignore-daemonsets --delete-emptydir-data
 *
 * The sandbox writes what a client needs (the Kafka jars, each simulated
 * cluster's name resolution, the connection Secret's bootstrap address and
 * producer settings) to `state.json` in its cache directory, and serves
 * stop-cluster and start-cluster on a loopback port named there. Producers
 * and consumers are Kafka's own console tools, run as clients inside one of
 * the simulated clusters (`--in`), since the clusters' names resolve only
 * there.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { kubebedBinary } from "./build.ts";
import { cacheDir } from "./cache.ts";
import { kafkaClientArgs } from "./kafka/runtime.ts";
import type { KafkaNodes } from "./kafka/stretch-bed.ts";

interface State {
  pid: number;
  control: string;
  classpath: string;
  clusters: string[];
  hosts: Record<string, string>;
  bootstrap: string;
  producerProperties: string;
}

const stateFile = (): string => join(cacheDir("sandbox"), "state.json");

/** Serves stop-cluster and start-cluster on loopback for the sandbox's lifetime. */
export async function serveControl(
  kafka: KafkaNodes,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const m = /^\/(stop|start)-cluster\/([a-z0-9-]+)$/.exec(req.url ?? "");
    const cluster = m?.[2] ?? "";
    if (req.method !== "POST" || !m) {
      res.writeHead(404).end("POST /stop-cluster/NAME or /start-cluster/NAME\n");
      return;
    }
    if (!kafka.network.clusters.includes(cluster)) {
      res
        .writeHead(400)
        .end(`no cluster ${cluster}; the sandbox's are ${kafka.network.clusters.join(", ")}\n`);
      return;
    }
    const act = m[1] === "stop" ? kafka.stopCluster(cluster) : kafka.startCluster(cluster);
    act.then(
      () => res.writeHead(200).end(`${cluster} ${m[1] === "stop" ? "stopped" : "started"}\n`),
      (err: unknown) => res.writeHead(500).end(`${(err as Error).message}\n`),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      rmSync(stateFile(), { force: true });
      server.close();
      await once(server, "close");
    },
  };
}

export function writeState(
  _dir: string,
  kafka: KafkaNodes,
  control: string,
  connection: Record<string, string>,
): void {
  const decode = (k: string): string => Buffer.from(connection[k] ?? "", "base64").toString();
  const state: State = {
    pid: process.pid,
    control,
    classpath: kafka.classpath,
    clusters: kafka.network.clusters,
    hosts: Object.fromEntries(kafka.network.clusters.map((c) => [c, kafka.network.hostsFile(c)])),
    bootstrap: decode("bootstrap.servers") || kafka.bootstrap(kafka.network.clusters[0] ?? ""),
    producerProperties: decode("producer.properties"),
  };
  writeFileSync(stateFile(), JSON.stringify(state, null, 2) + "\n");
}

export function usage(): string[] {
  return [
    "use Kafka (in another terminal, while this runs):",
    "  npm run sandbox -- produce --topic demo --in east     type lines; Ctrl-D ends",
    "  npm run sandbox -- consume --topic demo --in west     from the beginning; Ctrl-C ends",
    "lose a whole cluster (its API server and Kafka), and bring it back:",
    "  npm run sandbox -- stop-cluster west",
    "  npm run sandbox -- start-cluster west",
    "drain a node (its Kafka pods move when Kafka allows, one at a time; see `status` meanwhile):",
    "  npm run sandbox -- kubectl east get pods -n kafka -o wide",
    "  npm run sandbox -- kubectl east drain east-node-1 --ignore-daemonsets --delete-emptydir-data",
    "  npm run sandbox -- kubectl east uncordon east-node-1",
  ];
}

function readState(): State {
  if (!existsSync(stateFile())) {
    throw new Error(
      "no sandbox is running here: start one with `npm run sandbox` and wait for Ready",
    );
  }
  const state = JSON.parse(readFileSync(stateFile(), "utf8")) as State;
  try {
    process.kill(state.pid, 0);
  } catch {
    throw new Error(
      `the sandbox that wrote ${stateFile()} (pid ${state.pid}) is gone: start it again`,
    );
  }
  return state;
}

function inCluster(state: State, cluster: string): string {
  const hosts = state.hosts[cluster];
  if (!hosts)
    throw new Error(`--in ${cluster}: the sandbox's clusters are ${state.clusters.join(", ")}`);
  return hosts;
}

/** Runs a Kafka console tool inside `cluster`, attached to this terminal. */
async function consoleTool(
  state: State,
  cluster: string,
  mainClass: string,
  args: string[],
): Promise<number> {
  const child = spawn(
    "java",
    [
      ...kafkaClientArgs(inCluster(state, cluster), state.classpath),
      mainClass,
      "--bootstrap-server",
      state.bootstrap,
      ...args,
    ],
    { stdio: "inherit" },
  );
  const [code] = (await once(child, "exit")) as [number | null];
  return code ?? 1;
}

export async function produce(o: { topic: string; in: string }): Promise<number> {
  const state = readState();
  // The sample claim turns auto-creation off: the topic is made with the cluster's defaults.
  const created = await consoleTool(state, o.in, "org.apache.kafka.tools.TopicCommand", [
    "--create",
    "--if-not-exists",
    "--topic",
    o.topic,
  ]);
  if (created !== 0) return created;
  const props = join(cacheDir("sandbox"), "producer.properties");
  // The connection Secret's producer settings, and no acknowledged record lost.
  writeFileSync(props, `${state.producerProperties}acks=all\nenable.idempotence=true\n`);
  return consoleTool(state, o.in, "org.apache.kafka.tools.ConsoleProducer", [
    "--topic",
    o.topic,
    "--producer.config",
    props,
  ]);
}

export async function consume(o: { topic: string; in: string }): Promise<number> {
  const state = readState();
  return consoleTool(state, o.in, "org.apache.kafka.tools.consumer.ConsoleConsumer", [
    "--topic",
    o.topic,
    "--from-beginning",
    "--consumer-property",
    `client.rack=${o.in}`,
  ]);
}

/**
 * kubectl (the sandbox's own, built from the same Kubernetes release as its
 * API servers) against one of its clusters, attached to this terminal.
 */
export async function kubectl(cluster: string, args: string[]): Promise<number> {
  const state = readState();
  if (cluster !== "central") inCluster(state, cluster);
  const kubeconfig = join(cacheDir("sandbox"), `${cluster}.kubeconfig`);
  const bin = (await kubebedBinary()).path;
  const child = spawn(bin, ["kubectl", "--", "--kubeconfig", kubeconfig, ...args], {
    stdio: "inherit",
  });
  const [code] = (await once(child, "exit")) as [number | null];
  return code ?? 1;
}

export async function clusterAction(action: "stop" | "start", cluster: string): Promise<string> {
  const state = readState();
  const rsp = await fetch(`${state.control}/${action}-cluster/${cluster}`, { method: "POST" });
  const text = await rsp.text();
  if (!rsp.ok) throw new Error(text.trim());
  return text.trim();
}
