/**
 * Real Prometheus for the tests: the server and promtool from Debian's
 * `prometheus` package (downloaded and unpacked into the cache, never
 * installed system-wide), a server started on a free port with a
 * configuration and rule files, and its HTTP API.
 *
 * Played, because they cannot run here:
 * - what the Prometheus Operator makes of a PodMonitor and a PrometheusRule
 *   (`scrapeConfigOf`, `ruleFileOf`): the scrape configuration it generates
 *   (pods kept by the monitor's selector and port name, its default target
 *   labels, then the monitor's own relabelings) and the rule file it mounts;
 * - Kubernetes pod discovery (`PodDiscovery`): Debian builds Prometheus
 *   without its Kubernetes service discovery, so the pods are listed from
 *   the test bed's API servers and served over Prometheus's HTTP discovery
 *   with the `__meta_kubernetes_pod_*` labels its `role: pod` discovery gives
 *   (one target per container port). An API server that does not answer
 *   fails the discovery request, and Prometheus keeps the targets it had, as
 *   it does when its Kubernetes discovery loses the API server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import type { DynamicClient, KubeObject } from "../controller/kube/dynamic.ts";
import { cacheDir } from "./cache.ts";
import { freePort } from "./clusters.ts";
import { reapOnExit } from "./reaper.ts";
import { run } from "./run.ts";

export interface PrometheusBinaries {
  prometheus: string;
  promtool: string;
}

/** Debian's prometheus package, unpacked into the cache on first use. */
export async function prometheusBinaries(
  log: (m: string) => void = () => {},
): Promise<PrometheusBinaries> {
  const dir = cacheDir("prometheus-deb");
  const bin = join(dir, "root", "usr", "bin");
  const found = { prometheus: join(bin, "prometheus"), promtool: join(bin, "promtool") };
  if (existsSync(found.prometheus) && existsSync(found.promtool)) return found;
  log("prometheus: downloading Debian's prometheus package");
  const download = (): Promise<unknown> => run("apt-get", ["download", "prometheus"], { cwd: dir });
  try {
    await download();
  } catch {
    // A fresh machine may not have read the package lists yet.
    await run("apt-get", ["update", "-q"]);
    await download();
  }
  const deb = readdirSync(dir).find((f) => /^prometheus_.*\.deb$/.test(f));
  if (!deb) throw new Error(`apt-get download prometheus left no .deb in ${dir}`);
  await run("dpkg-deb", ["-x", join(dir, deb), join(dir, "root")]);
  if (!existsSync(found.prometheus)) throw new Error(`${deb} has no usr/bin/prometheus`);
  return found;
}

/** promtool check rules on the files; throws with promtool's output when it refuses. */
export async function checkRules(promtool: string, files: string[]): Promise<string> {
  const { stdout, stderr } = await run(promtool, ["check", "rules", ...files]);
  return stdout + stderr;
}

interface Relabeling {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  modulus?: number;
  replacement?: string;
  action?: string;
}

export interface PodMonitor {
  metadata: { name: string; namespace: string };
  spec: {
    selector: { matchLabels?: Record<string, string> };
    namespaceSelector?: { matchNames?: string[]; any?: boolean };
    podMetricsEndpoints: {
      port?: string;
      path?: string;
      interval?: string;
      scrapeTimeout?: string;
      relabelings?: Relabeling[];
    }[];
  };
}

const labelName = (l: string): string => l.replace(/[^a-zA-Z0-9_]/g, "_");

const snake = (r: Relabeling): Record<string, unknown> => ({
  ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
  ...(r.separator !== undefined ? { separator: r.separator } : {}),
  ...(r.targetLabel ? { target_label: r.targetLabel } : {}),
  ...(r.regex !== undefined ? { regex: r.regex } : {}),
  ...(r.modulus !== undefined ? { modulus: r.modulus } : {}),
  ...(r.replacement !== undefined ? { replacement: r.replacement } : {}),
  ...(r.action ? { action: r.action.toLowerCase() } : {}),
});

/**
 * The scrape configurations the Prometheus Operator generates for a PodMonitor
 * (one per endpoint). One Prometheus here scrapes every cluster, so the
 * configurations' names carry the cluster (the operator of each cluster would
 * name them alike); the job label they set is the operator's.
 */
export function scrapeConfigOf(
  cluster: string,
  pm: PodMonitor,
  discovery: (namespaces: string[] | undefined) => string,
): Record<string, unknown>[] {
  const ns = pm.spec.namespaceSelector?.any
    ? undefined
    : (pm.spec.namespaceSelector?.matchNames ?? [pm.metadata.namespace]);
  return pm.spec.podMetricsEndpoints.map((ep, i) => ({
    job_name: `${cluster}/podMonitor/${pm.metadata.namespace}/${pm.metadata.name}/${String(i)}`,
    honor_labels: false,
    ...(ep.interval ? { scrape_interval: ep.interval } : {}),
    ...(ep.scrapeTimeout ? { scrape_timeout: ep.scrapeTimeout } : {}),
    metrics_path: ep.path ?? "/metrics",
    http_sd_configs: [{ url: discovery(ns), refresh_interval: "5s" }],
    relabel_configs: [
      { source_labels: ["job"], target_label: "__tmp_prometheus_job_name" },
      ...Object.entries(pm.spec.selector.matchLabels ?? {}).map(([k, v]) => ({
        action: "keep",
        source_labels: [
          `__meta_kubernetes_pod_label_${labelName(k)}`,
          `__meta_kubernetes_pod_labelpresent_${labelName(k)}`,
        ],
        regex: `(${v});true`,
      })),
      {
        action: "drop",
        source_labels: ["__meta_kubernetes_pod_phase"],
        regex: "(Failed|Succeeded)",
      },
      ...(ep.port
        ? [
            {
              action: "keep",
              source_labels: ["__meta_kubernetes_pod_container_port_name"],
              regex: ep.port,
            },
          ]
        : []),
      { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace" },
      { source_labels: ["__meta_kubernetes_pod_container_name"], target_label: "container" },
      { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod" },
      {
        target_label: "job",
        replacement: `${pm.metadata.namespace}/${pm.metadata.name}`,
      },
      ...(ep.port ? [{ target_label: "endpoint", replacement: ep.port }] : []),
      ...(ep.relabelings ?? []).map(snake),
    ],
  }));
}

/** The rule file the Prometheus Operator mounts for a PrometheusRule. */
export function ruleFileOf(pr: { spec: { groups: unknown[] } }): string {
  return stringify({ groups: pr.spec.groups });
}

interface DiscoveredPod extends KubeObject {
  spec: {
    nodeName?: string;
    containers: {
      name: string;
      ports?: { name?: string; containerPort: number; protocol?: string }[];
    }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string }[];
  };
}

/** Kubernetes `role: pod` discovery over the test bed's API servers, served as HTTP discovery. */
export class PodDiscovery {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Serves /<cluster>?namespace=a&namespace=b for each client. */
  static async start(clients: ReadonlyMap<string, DynamicClient>): Promise<PodDiscovery> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const client = clients.get(url.pathname.slice(1));
      if (!client) {
        res.writeHead(404).end();
        return;
      }
      const namespaces = url.searchParams.getAll("namespace");
      podTargets(client, namespaces.length > 0 ? namespaces : [undefined]).then(
        (groups) => {
          res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(groups));
        },
        (err: unknown) => {
          res.writeHead(500).end(String(err));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    return new PodDiscovery(server, `http://127.0.0.1:${String(port)}`);
  }

  /** The discovery URL of one cluster, for `scrapeConfigOf`. */
  for(cluster: string): (namespaces: string[] | undefined) => string {
    return (namespaces) => {
      const q = new URLSearchParams(
        (namespaces ?? []).map((n): [string, string] => ["namespace", n]),
      );
      return `${this.url}/${cluster}${namespaces ? `?${q.toString()}` : ""}`;
    };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}

/** One target group per container port, labelled as Prometheus's pod discovery labels it. */
async function podTargets(
  client: DynamicClient,
  namespaces: (string | undefined)[],
): Promise<{ targets: string[]; labels: Record<string, string> }[]> {
  const groups: { targets: string[]; labels: Record<string, string> }[] = [];
  for (const namespace of namespaces) {
    const pods = await client.list<DiscoveredPod>("v1", "Pod", namespace ? { namespace } : {});
    for (const pod of pods.items) {
      const ip = pod.status?.podIP;
      if (!ip) continue;
      const common: Record<string, string> = {
        __meta_kubernetes_namespace: pod.metadata.namespace ?? "",
        __meta_kubernetes_pod_name: pod.metadata.name ?? "",
        __meta_kubernetes_pod_ip: ip,
        __meta_kubernetes_pod_uid: pod.metadata.uid ?? "",
        __meta_kubernetes_pod_node_name: pod.spec.nodeName ?? "",
        __meta_kubernetes_pod_host_ip: pod.status?.hostIP ?? "",
        __meta_kubernetes_pod_phase: pod.status?.phase ?? "",
        __meta_kubernetes_pod_ready: String(
          pod.status?.conditions?.find((c) => c.type === "Ready")?.status === "True",
        ),
      };
      for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) {
        common[`__meta_kubernetes_pod_label_${labelName(k)}`] = v;
        common[`__meta_kubernetes_pod_labelpresent_${labelName(k)}`] = "true";
      }
      for (const [k, v] of Object.entries(pod.metadata.annotations ?? {})) {
        common[`__meta_kubernetes_pod_annotation_${labelName(k)}`] = v;
        common[`__meta_kubernetes_pod_annotationpresent_${labelName(k)}`] = "true";
      }
      for (const c of pod.spec.containers) {
        for (const port of c.ports ?? []) {
          groups.push({
            targets: [`${ip}:${String(port.containerPort)}`],
            labels: {
              ...common,
              __meta_kubernetes_pod_container_name: c.name,
              __meta_kubernetes_pod_container_port_name: port.name ?? "",
              __meta_kubernetes_pod_container_port_number: String(port.containerPort),
              __meta_kubernetes_pod_container_port_protocol: port.protocol ?? "TCP",
            },
          });
        }
      }
    }
  }
  return groups;
}

export interface Alert {
  labels: Record<string, string>;
  state: "pending" | "firing";
}

/** One Prometheus server of the test bed. */
export class PrometheusServer {
  private constructor(
    private readonly proc: ChildProcess,
    readonly url: string,
  ) {}

  static async start(o: {
    binary: string;
    dir: string;
    config: Record<string, unknown>;
  }): Promise<PrometheusServer> {
    mkdirSync(join(o.dir, "data"), { recursive: true });
    const configFile = join(o.dir, "prometheus.yml");
    writeFileSync(configFile, stringify(o.config));
    const port = await freePort();
    const proc = spawn(
      o.binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(o.dir, "data")}`,
        `--web.listen-address=127.0.0.1:${String(port)}`,
        "--web.enable-lifecycle",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    reapOnExit(proc);
    let stderr = "";
    proc.stderr.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString("utf8")).slice(-8000);
    });
    const server = new PrometheusServer(proc, `http://127.0.0.1:${String(port)}`);
    for (let i = 0; i < 300; i++) {
      if (proc.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
      try {
        if ((await fetch(`${server.url}/-/ready`)).ok) return server;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    proc.kill("SIGKILL");
    throw new Error(`prometheus not ready within 30s: ${stderr}`);
  }

  private async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const res = await fetch(`${this.url}/api/v1/${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success")
      throw new Error(`${path} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
    return body.data;
  }

  /** An instant query; throws with Prometheus's message when the expression is invalid. */
  async query(
    expr: string,
  ): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const data = await this.api<{
      result: { metric: Record<string, string>; value: [number, string] }[];
    }>("query", { query: expr });
    return data.result;
  }

  async alerts(): Promise<Alert[]> {
    return (await this.api<{ alerts: Alert[] }>("alerts")).alerts;
  }

  async targets(): Promise<
    { labels: Record<string, string>; health: string; lastError: string }[]
  > {
    return (
      await this.api<{
        activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
      }>("targets", { state: "active" })
    ).activeTargets;
  }

  /** Every series name Prometheus has. */
  async names(): Promise<string[]> {
    return this.api<string[]>("label/__name__/values");
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, "exit");
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
