/**
 * The network of the simulated Kubernetes clusters, as the pods and clients
 * of the development bed see it: what a CNI plugin, cluster DNS and a
 * multi-cluster networking provider (MCS) give real pods.
 *
 * - Every pod has its own loopback address, `127.21.<cluster>.<n>`, kept for
 *   its name (a restarted pod keeps its address, as its DNS name stays).
 * - Each cluster has its own name resolution, a hosts file the JVMs of that
 *   cluster read (`-Djdk.net.hosts.file`, re-read on every lookup): a name
 *   of the same cluster resolves to the pod itself, a name of another
 *   cluster to a toxiproxy listener (`127.<40+from>.<cluster>.<n>`) that
 *   forwards to it with the chosen added latency. Cluster-scoped names
 *   (`*.svc.cluster.local`) exist only in their own cluster.
 * - The node agents publish the records of their clusters; the network
 *   writes every cluster's hosts file from all of them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import type { LookupFunction } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../clusters.ts";
import { reapOnExit } from "../reaper.ts";
import { toxiproxyBinary } from "./runtime.ts";

const podNet = 21;
const proxyNet = 40;

/** One DNS record: a name and the addresses (of pods in `cluster`) it resolves to. */
export interface DnsRecord {
  name: string;
  ips: string[];
  /** `cluster`: resolvable only inside the cluster that published it. */
  scope: "cluster" | "clusterset";
}

export class StretchNetwork {
  private readonly addresses = new Map<string, string>();
  private readonly records = new Map<string, DnsRecord[]>();
  private readonly proxies = new Set<string>();
  private readonly written = new Map<string, string>();
  private latencyMs = 0;
  private toxiproxy: ChildProcess | undefined;
  private api = "";

  private constructor(
    readonly dir: string,
    readonly clusters: string[],
  ) {}

  /** Starts the proxy that carries every cross-cluster connection. */
  static async start(
    dir: string,
    clusters: string[],
    log: (m: string) => void,
  ): Promise<StretchNetwork> {
    const net = new StretchNetwork(dir, clusters);
    mkdirSync(dir, { recursive: true });
    const bin = (await toxiproxyBinary(log)).path;
    const port = await freePort();
    net.api = `http://127.0.0.1:${port}`;
    const out = createWriteStream(join(dir, "toxiproxy.log"));
    net.toxiproxy = spawn(bin, ["-host", "127.0.0.1", "-port", String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    reapOnExit(net.toxiproxy);
    net.toxiproxy.stdout?.pipe(out);
    net.toxiproxy.stderr?.pipe(out);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${net.api}/version`)).ok) break;
      } catch {
        if (Date.now() > deadline) throw new Error("toxiproxy did not start");
        await sleep(100);
      }
    }
    for (const c of clusters) net.writeHosts(c);
    return net;
  }

  private clusterIndex(cluster: string): number {
    const i = this.clusters.indexOf(cluster);
    if (i < 0)
      throw new Error(`${cluster} is not one of the bed's clusters (${this.clusters.join(", ")})`);
    return i + 1;
  }

  /** The address of a pod, stable for its name. */
  address(cluster: string, pod: string): string {
    const key = `${cluster}/${pod}`;
    let ip = this.addresses.get(key);
    if (!ip) {
      const n = [...this.addresses.keys()].filter((k) => k.startsWith(`${cluster}/`)).length + 1;
      if (n > 250) throw new Error(`${cluster} has no pod address left`);
      ip = `127.${podNet}.${this.clusterIndex(cluster)}.${n}`;
      this.addresses.set(key, ip);
    }
    return ip;
  }

  /** A pod address as reached from a cluster: itself, or its proxy there. */
  private seenFrom(cluster: string, ip: string): string {
    const owner = Number(ip.split(".")[2]);
    if (owner === this.clusterIndex(cluster)) return ip;
    return ip.replace(`127.${podNet}.`, `127.${proxyNet + this.clusterIndex(cluster)}.`);
  }

  /** Opens the paths from every other cluster to a pod's ports (idempotent). */
  async expose(ip: string, ports: number[]): Promise<void> {
    const owner = Number(ip.split(".")[2]);
    for (const c of this.clusters) {
      if (this.clusterIndex(c) === owner) continue;
      for (const port of ports) {
        const name = `${c}-to-${ip}-${port}`;
        if (this.proxies.has(name)) continue;
        const rsp = await fetch(`${this.api}/proxies`, {
          method: "POST",
          body: JSON.stringify({
            name,
            listen: `${this.seenFrom(c, ip)}:${port}`,
            upstream: `${ip}:${port}`,
            enabled: true,
          }),
        });
        if (!rsp.ok && rsp.status !== 409) {
          throw new Error(`toxiproxy refused ${name}: ${await rsp.text()}`);
        }
        this.proxies.add(name);
        await this.latency(name, this.latencyMs);
      }
    }
  }

  /** Replaces the DNS records a cluster publishes, and rewrites every hosts file. */
  publish(cluster: string, records: DnsRecord[]): void {
    this.records.set(cluster, records);
    for (const c of this.clusters) this.writeHosts(c);
  }

  /**
   * Name resolution as the central cluster's pods see it (the controller's
   * admin channel): clusterset names resolve to the pods themselves, as on a
   * flat multi-cluster network; cluster-local names do not resolve.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const ips = [...this.records.values()]
      .flat()
      .filter((r) => r.scope === "clusterset" && r.name === hostname)
      .flatMap((r) => r.ips);
    if (ips.length === 0) {
      const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
        code: "ENOTFOUND",
      });
      callback(err, "", 4);
      return;
    }
    if (options.all) {
      (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(
        null,
        ips.map((address) => ({ address, family: 4 })),
      );
    } else {
      callback(null, ips[0] ?? "", 4);
    }
  };

  hostsFile(cluster: string): string {
    return join(this.dir, cluster, "hosts");
  }

  private writeHosts(cluster: string): void {
    const lines: string[] = [];
    for (const [owner, records] of this.records) {
      for (const r of records) {
        if (r.scope === "cluster" && owner !== cluster) continue;
        for (const ip of r.ips) lines.push(`${this.seenFrom(cluster, ip)} ${r.name}`);
      }
    }
    const text = lines.sort().join("\n") + "\n";
    if (this.written.get(cluster) === text) return;
    mkdirSync(join(this.dir, cluster), { recursive: true });
    // Renamed into place: a JVM resolving a name never reads half a file.
    const tmp = `${this.hostsFile(cluster)}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.hostsFile(cluster));
    this.written.set(cluster, text);
  }

  /** Sets the added one-way latency of every cross-cluster path, in both directions. */
  async setLatency(ms: number): Promise<void> {
    this.latencyMs = ms;
    await Promise.all([...this.proxies].map((name) => this.latency(name, ms)));
  }

  private async latency(name: string, ms: number): Promise<void> {
    for (const stream of ["upstream", "downstream"] as const) {
      const toxic = `latency-${stream}`;
      await fetch(`${this.api}/proxies/${name}/toxics/${toxic}`, { method: "DELETE" });
      if (ms <= 0) continue;
      const rsp = await fetch(`${this.api}/proxies/${name}/toxics`, {
        method: "POST",
        body: JSON.stringify({
          name: toxic,
          type: "latency",
          stream,
          attributes: { latency: ms, jitter: 0 },
        }),
      });
      if (!rsp.ok) throw new Error(`toxiproxy refused latency on ${name}: ${await rsp.text()}`);
    }
  }

  /**
   * Cuts (or, with `cut` false, mends) the connections pods of cluster `from`
   * open to port `port` of the pods of cluster `to`, as a broken link between
   * two clusters' networks refuses them: open ones are closed, new ones
   * refused. The other direction, and every other port, are untouched.
   */
  async cut(from: string, to: string, port: number, cut = true): Promise<void> {
    const prefix = `${from}-to-127.${podNet}.${this.clusterIndex(to)}.`;
    const names = [...this.proxies].filter((n) => n.startsWith(prefix) && n.endsWith(`-${port}`));
    if (names.length === 0) throw new Error(`no path from ${from} to port ${port} in ${to}`);
    for (const name of names) {
      const rsp = await fetch(`${this.api}/proxies/${name}`, {
        method: "POST",
        body: JSON.stringify({ enabled: !cut }),
      });
      if (!rsp.ok) throw new Error(`toxiproxy refused to change ${name}: ${await rsp.text()}`);
    }
  }

  async stop(): Promise<void> {
    if (this.toxiproxy && this.toxiproxy.exitCode === null) {
      const exited = once(this.toxiproxy, "exit");
      this.toxiproxy.kill("SIGKILL");
      await exited;
    }
  }
}
