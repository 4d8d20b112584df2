/**
 * Real Kafka behind the whole path: a claim applied to the central API
 * server, composed by the engine and the function, materialized by the
 * provider in the remote API servers, podsets turned into pods by the
 * Strimzi player, and every pod run as a real Kafka process by its cluster's
 * node agent (node-agent.ts) on the bed's network (network.ts).
 *
 * `KafkaNodes` is the part the sandbox shares: the network and one agent per
 * simulated cluster, with Kafka's own tools run as clients inside a cluster.
 * `KafkaStretchBed` is the whole bed the real-Kafka tests and benchmark use.
 */
import type { Server } from "node:http";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { defaultKafkaVersion } from "../../functions/stretch-kafka/image.ts";
import { startController, type Controller } from "../../controller/cli/controller.ts";
import { serveHttp } from "../../controller/http.ts";
import type { AdminSession } from "../../controller/kafka/admin.ts";
import { Metrics } from "../../controller/metrics.ts";
import { kubebedBinary } from "../build.ts";
import { reapOnExit } from "../reaper.ts";
import { freePort, startTestBed, type TestBed, type TestCluster } from "../clusters.ts";
import { eventually } from "../eventually.ts";
import { fastQueue, testLogger } from "../provider-bed.ts";
import { run, type RunResult } from "../run.ts";
import { prepareBed, prepareCentral, providerNamespace } from "../prepare-clusters.ts";
import { playStrimzi, type StrimziPlayer } from "../strimzi-player.ts";
import { StretchNetwork } from "./network.ts";
import { ClusterEdge } from "./edge.ts";
import { DiskProvisioner } from "./disks.ts";
import { NodeAgent } from "./node-agent.ts";
import { kafkaClasspath, kafkaClientArgs } from "./runtime.ts";
import { parseProperties, quorumStatus, type QuorumStatus } from "./tools.ts";

/** A kubectl command started by KafkaStretchBed.kubectl. */
export interface Kubectl {
  /** Its exit code and everything it printed. */
  done: Promise<{ code: number | null; output: string }>;
  /** What it printed so far. */
  output(): string;
  stop(): void;
}

/** One Kafka node as the remote cluster holds it: its ConfigMap's server.config. */
export interface KafkaNodeInfo {
  pod: string;
  cluster: string;
  id: number;
  roles: string[];
  /** The host name it advertises (or the voter list names it by). */
  host: string;
}

export interface KafkaNodesOptions {
  bed: TestBed;
  /** The simulated clusters whose pods run here (the bed's managed remote clusters). */
  clusters: string[];
  namespace: string;
  kafkaVersion: string;
  latencyMs?: number;
  log: Logger;
  report?: (msg: string) => void;
  /** The node disks; a temporary directory by default, removed on stop. */
  dir?: string;
  /** Play each cluster's edge too: load balancers, node ports, an ingress controller (edge.ts). */
  edge?: boolean;
}

/** The simulated clusters' nodes: network, node agents, and clients inside a cluster. */
export class KafkaNodes {
  /** The Kafka nodes, as last read by readNodes(). */
  nodes: KafkaNodeInfo[] = [];
  private readonly agents = new Map<string, NodeAgent>();
  private readonly disks = new Map<string, DiskProvisioner>();
  private readonly clients = new Map<string, DynamicClient>();
  private readonly edges = new Map<string, ClusterEdge>();
  /** Clusters stopped (stopCluster) and not started again. */
  private readonly down = new Set<string>();

  private constructor(
    private readonly o: KafkaNodesOptions,
    readonly network: StretchNetwork,
    readonly dir: string,
    readonly classpath: string,
    private readonly ownDir: boolean,
  ) {}

  static async start(o: KafkaNodesOptions): Promise<KafkaNodes> {
    const report = o.report ?? (() => {});
    const dir = o.dir ?? mkdtempSync(join(tmpdir(), "stretch-kafka-nodes-"));
    const classpath = await kafkaClasspath(o.kafkaVersion, report);
    const network = await StretchNetwork.start(join(dir, "network"), o.clusters, report);
    await network.setLatency(o.latencyMs ?? 0);
    const nodes = new KafkaNodes(o, network, dir, classpath, o.dir === undefined);
    for (const c of o.clusters) await nodes.startAgent(c);
    if (o.edge) for (const c of o.clusters) await nodes.startEdge(c);
    return nodes;
  }

  private async startEdge(cluster: string): Promise<void> {
    const client = this.clients.get(cluster);
    if (!client) throw new Error(`no client for ${cluster}`);
    const edge = new ClusterEdge({
      cluster,
      index: this.o.clusters.indexOf(cluster) + 1,
      client,
      namespace: this.o.namespace,
      log: this.o.log,
    });
    await edge.start();
    this.edges.set(cluster, edge);
  }

  /** A cluster's edge (with the edge option). */
  edge(cluster: string): ClusterEdge {
    const e = this.edges.get(cluster);
    if (!e) throw new Error(`no edge for ${cluster}: start the bed with edge: true`);
    return e;
  }

  /** The cluster's storage and nodes (their kubelets). */
  private async startAgent(cluster: string): Promise<void> {
    const client = new DynamicClient(this.o.bed.cluster(cluster).kubeConfig());
    this.clients.set(cluster, client);
    const common = {
      cluster,
      client,
      namespace: this.o.namespace,
      dir: join(this.dir, "nodes", cluster),
      log: this.o.log,
    };
    const disks = new DiskProvisioner(common);
    await disks.start();
    this.disks.set(cluster, disks);
    const agent = new NodeAgent({ ...common, network: this.network });
    agent.start();
    this.agents.set(cluster, agent);
  }

  agent(cluster: string): NodeAgent {
    const a = this.agents.get(cluster);
    if (!a) throw new Error(`no node agent for ${cluster}`);
    return a;
  }

  /** Every node as its cluster's ConfigMap describes it; a stopped cluster's as last read. */
  async readNodes(): Promise<KafkaNodeInfo[]> {
    const nodes: KafkaNodeInfo[] = this.nodes.filter((n) => this.down.has(n.cluster));
    for (const [cluster, client] of this.clients) {
      if (this.down.has(cluster)) continue;
      const cms = await client.list<KubeObject & { data?: Record<string, string> }>(
        "v1",
        "ConfigMap",
        {
          namespace: this.o.namespace,
        },
      );
      for (const cm of cms.items) {
        const config = cm.data?.["server.config"];
        if (!config) continue;
        const p = parseProperties(config);
        const id = Number(p.get("node.id"));
        const advertised = (p.get("advertised.listeners") ?? "").split(",")[0] ?? "";
        const voter = (p.get("controller.quorum.voters") ?? "")
          .split(",")
          .find((v) => v.startsWith(`${id}@`));
        const endpoint = advertised
          ? advertised.replace(/^[^:]+:\/\//, "")
          : (voter?.split("@")[1] ?? "");
        nodes.push({
          pod: cm.metadata.name ?? "",
          cluster,
          id,
          roles: (p.get("process.roles") ?? "").split(","),
          host: endpoint.slice(0, endpoint.lastIndexOf(":")),
        });
      }
    }
    this.nodes = nodes.sort((a, b) => a.id - b.id);
    return this.nodes;
  }

  /** Plain-listener bootstrap addresses of every broker, those of `cluster` first. */
  bootstrap(cluster: string, port = 9092): string {
    return this.nodes
      .filter((n) => n.roles.includes("broker"))
      .sort((a, b) => Number(b.cluster === cluster) - Number(a.cluster === cluster))
      .map((n) => `${n.host}:${port}`)
      .join(",");
  }

  /**
   * Why Kafka itself does not yet report every controller voting and every
   * broker registered (asked from `cluster`), or undefined once it does.
   */
  async notFormed(cluster: string): Promise<string | undefined> {
    const want = (role: string): number[] =>
      this.nodes.filter((n) => n.roles.includes(role)).map((n) => n.id);
    let q: QuorumStatus;
    try {
      q = await quorumStatus(this, cluster);
    } catch (err) {
      return `the quorum cannot be described yet: ${(err as Error).message.split("\n")[0] ?? ""}`;
    }
    const voters = new Set(q.voters.map((v) => v.id));
    const missingVoters = want("controller").filter((id) => !voters.has(id));
    const missingBrokers = want("broker").filter(
      (id) => !q.observers.includes(id) && !voters.has(id),
    );
    if (missingVoters.length === 0 && missingBrokers.length === 0) return undefined;
    return [
      missingVoters.length > 0 ? `controllers ${missingVoters.join(", ")} not voters` : "",
      missingBrokers.length > 0 ? `brokers ${missingBrokers.join(", ")} not registered` : "",
    ]
      .filter(Boolean)
      .join("; ");
  }

  /** The Kafka log of a pod (by uid) that ran in `cluster`, gone or not. */
  podLog(cluster: string, uid: string): string {
    return this.agent(cluster).logOf(uid);
  }

  /** The whole cluster is lost: its Kafka processes SIGKILLed, its API server killed. */
  async stopCluster(cluster: string): Promise<void> {
    this.down.add(cluster);
    await this.edges.get(cluster)?.stop();
    await this.agent(cluster).kill();
    await this.disks.get(cluster)?.stop();
    await this.clients.get(cluster)?.close();
    await this.o.bed.cluster(cluster).stop("SIGKILL");
  }

  /** The cluster comes back: its API server with its data, its pods' containers restarted. */
  async startCluster(cluster: string): Promise<void> {
    await this.o.bed.cluster(cluster).start();
    this.down.delete(cluster);
    await this.startAgent(cluster);
    if (this.edges.has(cluster)) await this.startEdge(cluster);
  }

  private javaArgs(cluster: string): string[] {
    return kafkaClientArgs(this.network.hostsFile(cluster), this.classpath);
  }

  /** Runs a Kafka tool (a main class of the Kafka jars) as a client inside `cluster`. */
  tool(
    cluster: string,
    mainClass: string,
    args: string[],
    opts: { onLine?: (l: string) => void } = {},
  ): Promise<RunResult> {
    return run("java", [...this.javaArgs(cluster), mainClass, ...args], { cwd: this.dir, ...opts });
  }

  /**
   * Runs a Kafka tool outside every simulated cluster: it resolves only the
   * names in `hosts` (a client's own DNS, e.g. the ingress hosts), so it can
   * reach Kafka only through the external listener's addresses.
   */
  outsideTool(
    hosts: { name: string; ip: string }[],
    mainClass: string,
    args: string[],
  ): Promise<RunResult> {
    const file = join(this.dir, "outside-hosts");
    writeFileSync(file, hosts.map((h) => `${h.ip} ${h.name}`).join("\n") + "\n");
    return run("java", [...kafkaClientArgs(file, this.classpath), mainClass, ...args], {
      cwd: this.dir,
    });
  }

  /** Starts a Kafka tool inside `cluster` and returns the process (long-running producers). */
  spawnTool(
    cluster: string,
    mainClass: string,
    args: string[],
  ): ChildProcessByStdio<null, Readable, Readable> {
    return spawn("java", [...this.javaArgs(cluster), mainClass, ...args], {
      cwd: this.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** A client properties file in the bed's directory. */
  clientConfig(name: string, props: Record<string, string | number>): string {
    const path = join(this.dir, name);
    writeFileSync(
      path,
      Object.entries(props)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n") + "\n",
    );
    return path;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.edges.values()].map((e) => e.stop()));
    await Promise.all([...this.agents.values()].map((a) => a.kill()));
    await Promise.all([...this.disks.values()].map((d) => d.stop()));
    await this.network.stop();
    for (const c of this.clients.values()) await c.close();
    if (this.ownDir && !process.env["STRETCH_KAFKA_KEEP_BED"]) {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

export interface KafkaStretchOptions {
  claim: KubeObject;
  latencyMs?: number;
  log?: (msg: string) => void;
  readySeconds?: number;
  /** Simulated clusters registered (ProviderConfig, node agent) but not in the claim yet, to add later. */
  spareClusters?: string[];
  /** Serve the controller's /metrics on a free loopback port (metricsUrl), as its process does. */
  controllerMetrics?: boolean;
  /** Play each cluster's load balancers, node ports and ingress controller (edge.ts). */
  edge?: boolean;
  /** Wraps the controller's Kafka admin sessions (to inject Kafka's refusals of some requests). */
  kafkaSession?: (s: AdminSession) => AdminSession;
  /** Compositions applied before the claim, besides the shipped one (a claim may name one). */
  compositions?: KubeObject[];
}

interface ClaimStatus extends KubeObject {
  spec: { clusters: { name: string }[]; targetNamespace?: string; kafka?: { version?: string } };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** A claim's Kafka through the whole path, as the real-Kafka tests and benchmark run it. */
export class KafkaStretchBed {
  /** The controller's /metrics, with controllerMetrics. */
  metricsUrl: string | undefined;
  private http: Server | undefined;

  private constructor(
    readonly bed: TestBed,
    private readonly firstCentral: DynamicClient,
    readonly remotes: Map<string, DynamicClient>,
    private ctl: Controller,
    private readonly controllerOptions: Parameters<typeof startController>[2],
    readonly players: StrimziPlayer[],
    readonly kafka: KafkaNodes,
    readonly claim: ClaimStatus,
    readonly namespace: string,
  ) {}

  /** A central cluster that replaced the first one (replaceCentral), and its client. */
  private rebuilt: { bed: TestBed; client: DynamicClient } | undefined;

  /** The central cluster's client: the first one's, or its replacement's. */
  get central(): DynamicClient {
    return this.rebuilt?.client ?? this.firstCentral;
  }

  /** The central cluster now in use (its kubeconfig, for the CLI). */
  get centralCluster(): TestCluster {
    return this.rebuilt?.bed.cluster("central-rebuilt") ?? this.bed.cluster("central");
  }

  /**
   * Loses the central cluster for good (its API server and etcd stopped, the
   * controller with it) and starts a new, empty one with the CRDs, the
   * Composition and the remote clusters registered again, as a platform
   * team rebuilds one from Git, and the controller on it. Kafka and the
   * remote clusters run on untouched.
   */
  async replaceCentral(): Promise<void> {
    if (this.rebuilt) throw new Error("the central cluster was replaced once already");
    await this.ctl.stop();
    await this.bed.cluster("central").stop();
    const bed = await startTestBed({ names: ["central-rebuilt"] });
    try {
      await prepareCentral(
        bed.cluster("central-rebuilt"),
        this.clusters.map((n) => this.bed.cluster(n)),
        { targetNamespace: this.namespace, report: () => {} },
      );
    } catch (err) {
      await bed.close();
      throw err;
    }
    const client = new DynamicClient(bed.cluster("central-rebuilt").kubeConfig());
    this.rebuilt = { bed, client };
    this.ctl = await startController(client, testLogger(), this.controllerOptions);
  }

  /** The stretch-kafka controller (provider and composition engine) now running. */
  get controller(): Controller {
    return this.ctl;
  }

  /** Stops the controller and starts a new one, as a crash or an upgrade of it would. */
  async restartController(): Promise<void> {
    await this.ctl.stop();
    this.ctl = await startController(this.central, testLogger(), this.controllerOptions);
  }

  get clusters(): string[] {
    return this.claim.spec.clusters.map((c) => c.name);
  }

  get nodes(): KafkaNodeInfo[] {
    return this.kafka.nodes;
  }

  bootstrap(cluster: string, port = 9092): string {
    return this.kafka.bootstrap(cluster, port);
  }

  static async start(o: KafkaStretchOptions): Promise<KafkaStretchBed> {
    const report = o.log ?? (() => {});
    const claim = o.claim as ClaimStatus;
    const names = [...claim.spec.clusters.map((c) => c.name), ...(o.spareClusters ?? [])];
    const namespace = claim.spec.targetNamespace ?? "kafka";
    const bed = await startTestBed({ names: ["central", ...names], scheduled: names, log: report });
    const closers: (() => Promise<void>)[] = [() => bed.close()];
    const fail = async (err: unknown): Promise<never> => {
      for (const c of closers.reverse()) await c().catch(() => {});
      throw err;
    };
    try {
      await prepareBed(bed, names, { targetNamespace: namespace, report });
      const metrics = o.controllerMetrics ? new Metrics() : undefined;
      // As the controller's process counts its central requests (shared with the test here).
      const central = new DynamicClient(
        bed.cluster("central").kubeConfig(),
        metrics ? { onRequest: metrics.requestHook("central") } : {},
      );
      const remotes = new Map(
        names.map((n) => [n, new DynamicClient(bed.cluster(n).kubeConfig())]),
      );
      closers.push(async () => {
        for (const r of remotes.values()) await r.close();
        await central.close();
      });
      const log = testLogger();
      const kafka = await KafkaNodes.start({
        bed,
        clusters: names,
        namespace,
        kafkaVersion: claim.spec.kafka?.version ?? defaultKafkaVersion,
        latencyMs: o.latencyMs ?? 0,
        log,
        report,
        ...(o.edge ? { edge: true } : {}),
      });
      closers.push(() => kafka.stop());
      const controllerOptions = {
        namespace: providerNamespace,
        queue: fastQueue,
        // Asked every 2 s here, so a test sees Kafka's changes within seconds.
        kafka: {
          intervalMs: 2000,
          lookup: kafka.network.lookup,
          ...(o.kafkaSession ? { session: o.kafkaSession } : {}),
        },
        ...(metrics ? { metrics } : {}),
      };
      const controller = await startController(central, log, controllerOptions);
      closers.push(() => controller.stop());
      const players = playStrimzi(remotes, namespace, log, { kubelet: false });
      closers.push(async () => {
        await Promise.all(players.map((p) => p.stop()));
      });
      const s = new KafkaStretchBed(
        bed,
        central,
        remotes,
        controller,
        controllerOptions,
        players,
        kafka,
        claim,
        namespace,
      );
      if (metrics) {
        const port = await freePort();
        const http = await serveHttp(`127.0.0.1:${String(port)}`, metrics, {
          ready: () => s.controller.synced,
          beforeScrape: () => {
            s.controller.provider.observeState();
          },
        });
        closers.push(
          () =>
            new Promise<void>((resolve) =>
              http.close(() => {
                resolve();
              }),
            ),
        );
        s.http = http;
        s.metricsUrl = `http://127.0.0.1:${String(port)}/metrics`;
      }
      const ns = claim.metadata.namespace ?? "default";
      await central.apply(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
        { fieldManager: "test" },
      );
      for (const c of o.compositions ?? []) await central.apply(c, { fieldManager: "test" });
      await central.apply(claim, { fieldManager: "test" });
      report(`claim ${ns}/${claim.metadata.name ?? ""} applied; waiting for Ready`);
      await s.waitReady(o.readySeconds ?? 420);
      await kafka.readNodes();
      return s;
    } catch (err) {
      return fail(err);
    }
  }

  /** Until the claim is Ready, with the last message and the Kafka logs' tails if it is not. */
  async waitReady(seconds: number): Promise<void> {
    const name = this.claim.metadata.name ?? "";
    const ns = this.claim.metadata.namespace ?? "default";
    try {
      await eventually(
        `claim ${ns}/${name} Ready`,
        async () => {
          const c = await this.central.find<ClaimStatus>(
            this.claim.apiVersion,
            this.claim.kind,
            name,
            ns,
          );
          const ready = c?.status?.conditions?.find((x) => x.type === "Ready");
          return ready?.status === "True" ? true : undefined;
        },
        seconds,
        1000,
      );
    } catch (err) {
      // Which pods there are, for their logs' tails.
      await this.kafka.readNodes().catch(() => []);
      const c = await this.central.find<ClaimStatus>(
        this.claim.apiVersion,
        this.claim.kind,
        name,
        ns,
      );
      throw new Error(
        `${(err as Error).message}; last conditions: ${JSON.stringify(c?.status?.conditions ?? [])}\n${this.logTails()}`,
        { cause: err },
      );
    }
  }

  /** The last lines of every Kafka log, for failure messages. */
  logTails(lines = 15): string {
    const out: string[] = [];
    for (const n of this.nodes.length > 0 ? this.nodes : []) {
      const path = this.kafka.agent(n.cluster).logPath(n.pod);
      if (!path) continue;
      try {
        out.push(
          `--- ${n.cluster}/${n.pod}`,
          ...readFileSync(path, "utf8").split("\n").slice(-lines),
        );
      } catch {
        // not started
      }
    }
    return out.join("\n");
  }

  /** The claim's connection Secret, decoded. */
  async connection(): Promise<Record<string, string>> {
    const ref = (this.claim.spec as { writeConnectionSecretToRef?: { name: string } })
      .writeConnectionSecretToRef;
    if (!ref) throw new Error("the claim writes no connection Secret");
    const s = await this.central.get<KubeObject & { data?: Record<string, string> }>(
      "v1",
      "Secret",
      ref.name,
      this.claim.metadata.namespace,
    );
    return Object.fromEntries(
      Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
    );
  }

  tool(
    cluster: string,
    mainClass: string,
    args: string[],
    opts: { onLine?: (l: string) => void } = {},
  ): Promise<RunResult> {
    return this.kafka.tool(cluster, mainClass, args, opts);
  }

  spawnTool(
    cluster: string,
    mainClass: string,
    args: string[],
  ): ChildProcessByStdio<null, Readable, Readable> {
    return this.kafka.spawnTool(cluster, mainClass, args);
  }

  clientConfig(name: string, props: Record<string, string | number>): string {
    return this.kafka.clientConfig(name, props);
  }

  /** Writes a file clients read (a keystore, a CA bundle) into the bed's directory; returns its path. */
  clientFile(name: string, content: string | Buffer): string {
    const path = join(this.kafka.dir, name);
    writeFileSync(path, content);
    return path;
  }

  setLatency(ms: number): Promise<void> {
    return this.kafka.network.setLatency(ms);
  }

  /** The whole Kubernetes cluster is lost: API server and every Kafka node in it. */
  async stopCluster(cluster: string): Promise<void> {
    await this.kafka.stopCluster(cluster);
  }

  /**
   * Real kubectl, built from the same Kubernetes release as the control plane
   * (devbed/kubebed), run against a cluster as its admin; started, not
   * awaited (a drain runs until it is done).
   */
  async kubectl(cluster: string, args: string[]): Promise<Kubectl> {
    const bin = (await kubebedBinary()).path;
    const kubeconfig = this.bed.cluster(cluster).kubeconfigPath;
    const proc = spawn(bin, ["kubectl", "--", "--kubeconfig", kubeconfig, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    reapOnExit(proc);
    let output = "";
    const collect = (d: Buffer): void => {
      output += d.toString();
    };
    proc.stdout.on("data", collect);
    proc.stderr.on("data", collect);
    const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      proc.on("error", reject);
      proc.on("close", (code) => {
        resolve({ code, output });
      });
    });
    return {
      done,
      output: () => output,
      stop: () => {
        proc.kill("SIGTERM");
      },
    };
  }

  async startCluster(cluster: string): Promise<void> {
    await this.kafka.startCluster(cluster);
    // The provider and the player reconnect by themselves; their clients are kept.
  }

  async stop(): Promise<void> {
    const http = this.http;
    if (http)
      await new Promise<void>((resolve) =>
        http.close(() => {
          resolve();
        }),
      );
    await Promise.all(this.players.map((p) => p.stop()));
    await this.controller.stop();
    await this.kafka.stop();
    for (const r of this.remotes.values()) await r.close();
    await this.firstCentral.close();
    await this.rebuilt?.client.close();
    await this.rebuilt?.bed.close();
    await this.bed.close();
  }
}
