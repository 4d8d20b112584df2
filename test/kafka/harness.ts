/**
 * Real Apache Kafka run with exactly what function-stretch-kafka renders.
 *
 * A claim is rendered in-process (the same code Crossplane runs over gRPC);
 * every node's ConfigMap (server.config, cluster.id, metadata.version,
 * log4j2.properties, and format.sh for dynamic-quorum controllers) becomes a
 * Kafka process, every certificate the function requests is minted by the
 * provider's PKI. Each simulated Kubernetes cluster is a loopback address
 * range with its own hosts file (`-Djdk.net.hosts.file`), in which node names
 * resolve as the networking provider makes them resolve: a node of the same
 * cluster to its own address, a node of another cluster to a toxiproxy
 * listener that forwards to it with the chosen added latency.
 *
 * What a pod has that a process here does not, and the one-line stand-in
 * for each (nothing else in the rendered files changes):
 * - its own IP: `listeners` binds the node's loopback address instead of
 *   0.0.0.0 (every node here shares one network namespace);
 * - its volumes: log directories live under the node's directory;
 * - Strimzi's KubernetesSecretConfigProvider, which reads
 *   `${strimzisecrets:<namespace>/<secret>:<key>}` from the API server:
 *   Kafka's own DirectoryConfigProvider reads the same reference from
 *   `<namespace>/<secret>/<key>` below the process's working directory,
 *   where the harness writes each Secret as the provider would.
 */
import { spawn, type ChildProcess, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { once } from "node:events";
import { mkdirSync, readFileSync, writeFileSync, createWriteStream, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CertificateRequest } from "../../apis/index.ts";
import { Pki, type Issuer } from "../../controller/provider/pki.ts";
import { render, type KubeObject } from "../../functions/render.ts";
import { freePort } from "../../devbed/clusters.ts";
import { run, type RunResult } from "../../devbed/run.ts";
import { kafkaClasspath, toxiproxyBinary } from "./runtime.ts";
import { MemoryCaStore, parseProperties } from "../support.ts";

/** One Kafka node as rendered: where it runs and the files of its ConfigMap. */
export interface RenderedNode {
  podName: string;
  cluster: string;
  id: number;
  roles: string[];
  /** Host name the node is reached by (advertised, or in the voter list). */
  host: string;
  /** Ports its listeners open, by listener name (CONTROLPLANE-9090: 9090, …). */
  ports: number[];
  files: Record<string, string>;
  /** The commands its pod runs: each init container's, then the Kafka container's. */
  pod: { initContainers: string[][]; container: string[] };
}

export interface Rendered {
  kafkaName: string;
  namespace: string;
  nodes: RenderedNode[];
  /** Secrets by namespace/name, with their certificate requests or CA keys. */
  secrets: {
    namespace: string;
    name: string;
    cluster: string;
    forProvider: Record<string, unknown>;
  }[];
  /** The composite's connection details' bootstrap host, e.g. the clusterset bootstrap Service. */
  bootstrapHost: string | undefined;
}

function hostPort(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(":");
  return { host: endpoint.slice(0, i), port: Number(endpoint.slice(i + 1)) };
}

/** Renders a claim with the function and collects what each node and cluster gets. */
export function renderClaim(claim: KubeObject, providerConfigs: KubeObject[]): Rendered {
  const objects = render(claim, [], providerConfigs);
  const kafkaName = claim.metadata.name ?? "";
  const manifests = objects
    .filter((o) => o.apiVersion.startsWith("remote.stretchkafka.dev/"))
    .map((o) => {
      const spec = o["spec"] as {
        forProvider: Record<string, unknown> & { manifest: KubeObject };
        providerConfigRef: { name: string };
      };
      return {
        kind: o.kind,
        spec,
        cluster: o.metadata.labels?.["stretchkafka.dev/cluster"] ?? "",
      };
    });
  const pods = new Map<string, RenderedNode["pod"]>();
  type Container = { command?: string[]; args?: string[] };
  const line = (c: Container | undefined): string[] => [...(c?.command ?? []), ...(c?.args ?? [])];
  for (const m of manifests.filter((x) => x.kind === "RemoteStrimziPodSet")) {
    const podSet = m.spec.forProvider.manifest as { spec?: { pods?: KubeObject[] } };
    for (const pod of podSet.spec?.pods ?? []) {
      const spec = pod["spec"] as { initContainers?: Container[]; containers: Container[] };
      pods.set(pod.metadata.name ?? "", {
        initContainers: (spec.initContainers ?? []).map(line),
        container: line(spec.containers[0]),
      });
    }
  }
  const nodes: RenderedNode[] = [];
  let namespace = "";
  for (const m of manifests.filter((x) => x.kind === "RemoteConfigMap")) {
    const cm = m.spec.forProvider.manifest as KubeObject & { data?: Record<string, string> };
    const data = cm.data ?? {};
    const config = data["server.config"];
    if (config === undefined) continue;
    namespace = cm.metadata.namespace ?? namespace;
    const props = parseProperties(config);
    const id = Number(props.get("node.id"));
    const listeners = (props.get("listeners") ?? "").split(",").filter(Boolean);
    const ports = listeners.map((l) => Number(l.slice(l.lastIndexOf(":") + 1)));
    const advertised = (props.get("advertised.listeners") ?? "").split(",").filter(Boolean);
    nodes.push({
      podName: cm.metadata.name ?? "",
      cluster: m.cluster,
      id,
      roles: (props.get("process.roles") ?? "").split(","),
      host: advertised[0] ? hostPort(advertised[0].replace(/^[^:]+:\/\//, "")).host : "",
      ports,
      files: data,
      pod: pods.get(cm.metadata.name ?? "") ?? { initContainers: [], container: [] },
    });
  }
  // Controllers that advertise nothing (static quorum) are named by the voter list.
  for (const n of nodes) {
    const voters = parseProperties(n.files["server.config"] ?? "").get("controller.quorum.voters");
    for (const v of voters?.split(",") ?? []) {
      const [id, endpoint = ""] = v.split("@");
      const voter = nodes.find((x) => x.id === Number(id));
      if (voter && !voter.host) voter.host = hostPort(endpoint).host;
    }
  }
  const unnamed = nodes.filter((n) => !n.host);
  if (unnamed.length > 0) {
    throw new Error(`no address rendered for ${unnamed.map((n) => n.podName).join(", ")}`);
  }
  const secrets = manifests
    .filter((x) => x.kind === "RemoteSecret")
    .map((x) => ({
      namespace: x.spec.forProvider.manifest.metadata.namespace ?? "",
      name: x.spec.forProvider.manifest.metadata.name ?? "",
      cluster: x.cluster,
      forProvider: x.spec.forProvider,
    }));
  const xr = objects[0] as KubeObject & { status?: { kafka?: { bootstrapServers?: string } } };
  const bootstrap = xr.status?.kafka?.bootstrapServers?.split(",")[0];
  return {
    kafkaName,
    namespace,
    nodes: nodes.sort((a, b) => a.id - b.id),
    secrets,
    bootstrapHost: bootstrap ? hostPort(bootstrap).host : undefined,
  };
}

/** The Secrets as the provider fills them, written as files below each cluster's directory. */
async function writeSecrets(rendered: Rendered, clusterDir: (c: string) => string): Promise<void> {
  const pki = new Pki(new MemoryCaStore());
  for (const s of rendered.secrets) {
    const dir = join(clusterDir(s.cluster), "secrets", s.namespace, s.name);
    mkdirSync(dir, { recursive: true });
    const cert = s.forProvider["certificate"] as CertificateRequest | undefined;
    const ca = s.forProvider["caCertificate"] as
      { authority: string; issuer: Issuer; key: string } | undefined;
    if (cert) {
      const minted = await pki.certificate(cert);
      const keys = cert.keys as { certificate: string; privateKey: string; ca?: string };
      writeFileSync(join(dir, keys.certificate), minted.cert);
      writeFileSync(join(dir, keys.privateKey), minted.key);
      if (keys.ca) writeFileSync(join(dir, keys.ca), minted.ca);
    } else if (ca) {
      writeFileSync(join(dir, ca.key), await pki.bundle(ca.authority, ca.issuer));
    }
  }
}

/** The format step of Strimzi's kafka_run.sh (1.2 and main, 2026-08), as it runs in the pod. */
const stockFormatStep = `#!/usr/bin/env bash
set -e
STRIMZI_CLUSTER_ID=$(cat "$KAFKA_HOME/custom-config/cluster.id")
METADATA_VERSION=$(cat "$KAFKA_HOME/custom-config/metadata.version")
cp "$KAFKA_HOME/custom-config/server.config" /tmp/strimzi.properties
./bin/kafka-storage.sh format -t="$STRIMZI_CLUSTER_ID" -r="$METADATA_VERSION" -c=/tmp/strimzi.properties -g
`;

const realNet = 21;
const proxyNet = 40;

export interface KafkaBedOptions {
  claim: KubeObject;
  providerConfigs: KubeObject[];
  /** Added one-way delay on every cross-cluster connection, each direction (ms). */
  latencyMs?: number;
  /** Rewrites a node's rendered server.config (e.g. Kafka's defaults for a comparison). */
  transformConfig?: (config: string, node: RenderedNode) => string;
  heap?: string;
  log?: (msg: string) => void;
}

interface NodeProcess {
  node: RenderedNode;
  ip: string;
  dir: string;
  proc: ChildProcess | undefined;
  exited: Promise<unknown>;
}

/** A running stretched Kafka cluster of real processes. */
export class KafkaBed {
  readonly clusters: string[];
  private readonly procs: NodeProcess[];
  private toxiproxy: ChildProcess | undefined;
  private toxiproxyApi = "";
  private proxies: string[] = [];

  private constructor(
    readonly rendered: Rendered,
    readonly dir: string,
    readonly classpath: string,
    private readonly opts: KafkaBedOptions,
  ) {
    this.clusters = [...new Set(rendered.nodes.map((n) => n.cluster))];
    this.procs = rendered.nodes.map((node) => {
      const c = this.clusters.indexOf(node.cluster) + 1;
      const i = rendered.nodes.filter((n) => n.cluster === node.cluster).indexOf(node) + 1;
      return {
        node,
        ip: `127.${realNet}.${c}.${i}`,
        dir: join(dir, node.cluster, node.podName),
        proc: undefined,
        exited: Promise.resolve(),
      };
    });
  }

  static async start(opts: KafkaBedOptions): Promise<KafkaBed> {
    const log = opts.log ?? (() => {});
    const rendered = renderClaim(opts.claim, opts.providerConfigs);
    const version =
      (opts.claim["spec"] as { kafka?: { version?: string } }).kafka?.version ?? "4.1.0";
    const classpath = await kafkaClasspath(version, log);
    const dir = await mkdtemp(join(tmpdir(), "stretch-kafka-bed-"));
    await writeSecrets(rendered, (c) => join(dir, c));
    const bed = new KafkaBed(rendered, dir, classpath, opts);
    try {
      await bed.startProxies(opts.latencyMs ?? 0, log);
      bed.writeHosts();
      for (const p of bed.procs) await bed.format(p);
      await Promise.all(bed.procs.map((p) => bed.launch(p)));
      await bed.waitListening(bed.procs);
    } catch (err) {
      await bed.stop();
      throw err;
    }
    return bed;
  }

  /** A node's address as seen from a cluster: its own, or its proxy's. */
  private seenFrom(cluster: string, p: NodeProcess): string {
    if (p.node.cluster === cluster) return p.ip;
    const s = this.clusters.indexOf(cluster) + 1;
    return p.ip.replace(`127.${realNet}.`, `127.${proxyNet + s}.`);
  }

  private hostsFile(cluster: string): string {
    return join(this.dir, cluster, "hosts");
  }

  private writeHosts(): void {
    for (const c of this.clusters) {
      const lines = this.procs.map((p) => `${this.seenFrom(c, p)} ${p.node.host}`);
      // The clusterset bootstrap Service: the brokers of this cluster answer it.
      if (this.rendered.bootstrapHost) {
        for (const p of this.procs.filter(
          (x) => x.node.cluster === c && x.node.roles.includes("broker"),
        )) {
          lines.push(`${p.ip} ${this.rendered.bootstrapHost}`);
        }
      }
      mkdirSync(join(this.dir, c), { recursive: true });
      writeFileSync(this.hostsFile(c), lines.join("\n") + "\n");
    }
  }

  private async startProxies(latencyMs: number, log: (m: string) => void): Promise<void> {
    const bin = (await toxiproxyBinary(log)).path;
    const port = await freePort();
    this.toxiproxyApi = `http://127.0.0.1:${port}`;
    const out = createWriteStream(join(this.dir, "toxiproxy.log"));
    this.toxiproxy = spawn(bin, ["-host", "127.0.0.1", "-port", String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.toxiproxy.stdout?.pipe(out);
    this.toxiproxy.stderr?.pipe(out);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${this.toxiproxyApi}/version`)).ok) break;
      } catch {
        if (Date.now() > deadline) throw new Error("toxiproxy did not start");
        await sleep(100);
      }
    }
    const proxies: { name: string; listen: string; upstream: string; enabled: boolean }[] = [];
    for (const c of this.clusters) {
      for (const p of this.procs.filter((x) => x.node.cluster !== c)) {
        for (const port of p.node.ports) {
          proxies.push({
            name: `${c}-to-${p.node.podName}-${port}`,
            listen: `${this.seenFrom(c, p)}:${port}`,
            upstream: `${p.ip}:${port}`,
            enabled: true,
          });
        }
      }
    }
    const rsp = await fetch(`${this.toxiproxyApi}/populate`, {
      method: "POST",
      body: JSON.stringify(proxies),
    });
    if (!rsp.ok) throw new Error(`toxiproxy refused the proxies: ${await rsp.text()}`);
    this.proxies = proxies.map((p) => p.name);
    await this.setLatency(latencyMs);
  }

  /** Sets the added one-way latency of every cross-cluster path, in both directions. */
  async setLatency(ms: number): Promise<void> {
    await Promise.all(
      this.proxies.flatMap((name) =>
        (["upstream", "downstream"] as const).map(async (stream) => {
          const toxic = `latency-${stream}`;
          await fetch(`${this.toxiproxyApi}/proxies/${name}/toxics/${toxic}`, { method: "DELETE" });
          if (ms <= 0) return;
          const rsp = await fetch(`${this.toxiproxyApi}/proxies/${name}/toxics`, {
            method: "POST",
            body: JSON.stringify({
              name: toxic,
              type: "latency",
              stream,
              attributes: { latency: ms, jitter: 0 },
            }),
          });
          if (!rsp.ok) throw new Error(`toxiproxy refused latency on ${name}: ${await rsp.text()}`);
        }),
      ),
    );
  }

  /** The node's ConfigMap files as its pod would see them, with the stand-ins above. */
  private nodeFiles(p: NodeProcess): Record<string, string> {
    const files = { ...p.node.files };
    let config = files["server.config"] ?? "";
    const dataRoot = join(p.dir, "volumes");
    config = config
      .replace(/^(listeners=.*)$/m, (line) => line.replaceAll("0.0.0.0", p.ip))
      .replace(
        /^((?:log\.dirs|metadata\.log\.dir)=)(.*)$/gm,
        (_m, key: string, dirs: string) =>
          key +
          dirs
            .split(",")
            .map((d) => dataRoot + d)
            .join(","),
      )
      .replace(
        /^config\.providers\.strimzisecrets\.class=.*$/m,
        "config.providers.strimzisecrets.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider",
      );
    if (this.opts.transformConfig) config = this.opts.transformConfig(config, p.node);
    files["server.config"] = config;
    return files;
  }

  private javaArgs(cluster: string, heap: string): string[] {
    return [
      `-Xms${heap}`,
      `-Xmx${heap}`,
      "-XX:+UseG1GC",
      "-XX:TieredStopAtLevel=1",
      "-Djava.awt.headless=true",
      `-Djdk.net.hosts.file=${this.hostsFile(cluster)}`,
      "-cp",
      this.classpath,
    ];
  }

  /**
   * What the pod does before Kafka runs, by running the rendered containers'
   * commands: its init containers (format.sh of a dynamic-quorum controller),
   * then its container's command up to the point where the stock start script
   * has formatted storage. The stock kafka_run.sh is not here (it comes with
   * the Strimzi image); its stand-in is its format step, verbatim.
   */
  private async format(p: NodeProcess): Promise<void> {
    const home = join(p.dir, "opt", "kafka");
    const custom = join(home, "custom-config");
    for (const d of [custom, join(home, "bin"), join(p.dir, "tmp"), join(p.dir, "run")]) {
      mkdirSync(d, { recursive: true });
    }
    // The container's paths, in one pass (the bed itself may live under /tmp).
    const paths = (text: string): string =>
      text.replace(/\/opt\/kafka|\/tmp\/|\/var\/opt\/stretch-kafka/g, (m) =>
        m === "/opt/kafka" ? home : m === "/tmp/" ? `${join(p.dir, "tmp")}/` : join(p.dir, "run"),
      );
    for (const [k, v] of Object.entries(this.nodeFiles(p))) {
      writeFileSync(join(custom, k), k.endsWith(".sh") ? paths(v) : v);
    }
    const secrets = join(this.dir, p.node.cluster, "secrets");
    const java = this.javaArgs(p.node.cluster, "256m")
      .map((a) => `'${a}'`)
      .join(" ");
    writeFileSync(
      join(home, "bin", "kafka-storage.sh"),
      `#!/bin/bash\ncd '${secrets}'\nexec java ${java} kafka.tools.StorageTool "$@"\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(home, "kafka_run.sh"), paths(stockFormatStep), { mode: 0o755 });
    const env = { ...process.env, KAFKA_HOME: home };
    for (const c of [...p.node.pod.initContainers, p.node.pod.container]) {
      const [cmd = "", ...args] = c.map(paths);
      await run(cmd, args, { cwd: home, env });
    }
  }

  private async launch(p: NodeProcess): Promise<void> {
    const custom = join(p.dir, "opt", "kafka", "custom-config");
    const out = createWriteStream(join(p.dir, "server.log"), { flags: "a" });
    await once(out, "open");
    const proc = spawn(
      "java",
      [
        ...this.javaArgs(p.node.cluster, this.opts.heap ?? "384m"),
        `-Dlog4j2.configurationFile=${join(custom, "log4j2.properties")}`,
        "kafka.Kafka",
        join(custom, "server.config"),
      ],
      { cwd: join(this.dir, p.node.cluster, "secrets"), stdio: ["ignore", "pipe", "pipe"] },
    );
    proc.stdout.pipe(out);
    proc.stderr.pipe(out);
    p.proc = proc;
    p.exited = once(proc, "exit");
  }

  private async waitListening(procs: NodeProcess[], seconds = 180): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    for (const p of procs) {
      for (const port of p.node.ports) {
        for (;;) {
          if (p.proc?.exitCode !== null && p.proc?.exitCode !== undefined) {
            throw new Error(
              `${p.node.podName} exited with ${p.proc.exitCode}:\n${this.logTail(p.node.podName)}`,
            );
          }
          if (await reachable(p.ip, port)) break;
          if (Date.now() > deadline) {
            throw new Error(
              `${p.node.podName} does not listen on ${p.ip}:${port}:\n${this.logTail(p.node.podName)}`,
            );
          }
          await sleep(250);
        }
      }
    }
  }

  logTail(podName: string, lines = 40): string {
    const p = this.procs.find((x) => x.node.podName === podName);
    if (!p) return "";
    try {
      return readFileSync(join(p.dir, "server.log"), "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /** Plain-listener bootstrap addresses of every broker, as a client in `cluster` uses them. */
  bootstrap(cluster: string, listenerPort = 9092): string {
    return this.procs
      .filter((p) => p.node.roles.includes("broker") && p.node.ports.includes(listenerPort))
      .sort((a, b) => Number(b.node.cluster === cluster) - Number(a.node.cluster === cluster))
      .map((p) => `${p.node.host}:${listenerPort}`)
      .join(",");
  }

  /** Runs a Kafka tool (a main class of the Kafka jars) as a client inside `cluster`. */
  async tool(
    cluster: string,
    mainClass: string,
    args: string[],
    opts: { onLine?: (l: string) => void } = {},
  ): Promise<RunResult> {
    return run(
      "java",
      [...this.javaArgs(cluster, "256m"), "-Dlog4j2.level=WARN", mainClass, ...args],
      {
        cwd: this.dir,
        ...opts,
      },
    );
  }

  /** Starts a Kafka tool in `cluster` and returns the process (for long-running producers). */
  spawnTool(
    cluster: string,
    mainClass: string,
    args: string[],
  ): ChildProcessByStdio<null, Readable, Readable> {
    return spawn("java", [...this.javaArgs(cluster, "256m"), mainClass, ...args], {
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

  /** SIGKILLs every node of a cluster: the whole Kubernetes cluster is gone. */
  async kill(cluster: string): Promise<void> {
    const victims = this.procs.filter((p) => p.node.cluster === cluster && p.proc);
    for (const p of victims) p.proc?.kill("SIGKILL");
    await Promise.all(victims.map((p) => p.exited));
    for (const p of victims) p.proc = undefined;
  }

  /** Starts the cluster's nodes again on their existing storage, as their pods would (format is skipped). */
  async restart(cluster: string): Promise<void> {
    const back = this.procs.filter((p) => p.node.cluster === cluster);
    for (const p of back) {
      await this.format(p);
      await this.launch(p);
    }
    await this.waitListening(back);
  }

  async stop(): Promise<void> {
    const running = this.procs.filter((p) => p.proc);
    for (const p of running) p.proc?.kill("SIGKILL");
    await Promise.all(running.map((p) => p.exited));
    if (this.toxiproxy && this.toxiproxy.exitCode === null) {
      const exited = once(this.toxiproxy, "exit");
      this.toxiproxy.kill("SIGKILL");
      await exited;
    }
    if (process.env["KEEP_KAFKA_BED"]) return;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(1000);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => {
      resolve(false);
    });
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}
