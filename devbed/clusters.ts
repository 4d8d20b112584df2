/**
 * Starts isolated Kubernetes control planes on loopback: per cluster one
 * kube-apiserver process (with etcd embedded) and one kube-controller-manager
 * running the garbage-collector, namespace, service-account, disruption
 * (PodDisruptionBudget status) and persistent-volume binding controllers;
 * clusters that run pods (TestBedOptions.scheduled) also run kube-scheduler.
 * Each cluster has its own CA and serves verified TLS. Everything is torn down
 * when the test ends, fails or is interrupted (and the Go harness dies with its
 * parent process, should this one be killed outright).
 *
 * With STRETCH_KAFKA_KUBECONFIGS=a.yaml,b.yaml,... the same tests run against
 * existing clusters instead (those cannot be stopped by a test).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { kubebedBinary } from "./build.ts";
import { run } from "./run.ts";

export interface TestCluster {
  readonly name: string;
  /** Path of a kubeconfig with cluster-admin rights and a verified CA. */
  readonly kubeconfigPath: string;
  readonly server: string;
  kubeConfig(): KubeConfig;
  /** Whether the test bed controls this cluster's processes (false for given kubeconfigs). */
  readonly managed: boolean;
  /** Stops the control plane, keeping its data: like losing the cluster. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped control plane again with the same data, address and identity. */
  start(): Promise<void>;
  readonly running: boolean;
  /** Log files of this cluster's processes, for failure messages. */
  readonly logs: { apiserver: string; controllerManager: string; scheduler?: string };
  /** The API server's audit log (JSON lines), when the bed was started with auditServiceAccounts. */
  readonly auditLog?: string | undefined;
}

export interface TestBed {
  readonly clusters: TestCluster[];
  cluster(name: string): TestCluster;
  /** Stops every process and removes temporary data. Safe to call twice. */
  close(): Promise<void>;
}

export interface TestBedOptions {
  /** Names of the clusters to start, e.g. ["central", "east", "west"]. */
  names: string[];
  log?: (msg: string) => void;
  /** Seconds to wait for each API server to become ready. */
  readyTimeoutSeconds?: number;
  /**
   * Have each API server write an audit log (TestCluster.auditLog) of every
   * request a ServiceAccount makes, at Metadata level: who asked for which
   * verb on which resource, and whether RBAC allowed it.
   */
  auditServiceAccounts?: boolean;
  /** Clusters whose pods the real kube-scheduler places (on the nodes a node agent plays). */
  scheduled?: string[];
}

/** Audit policy: ServiceAccounts' requests at Metadata level, nothing else. */
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
`;

const openBeds = new Set<LocalTestBed>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // Synchronous last resort: kill every child if the process exits without close().
  process.on("exit", () => {
    for (const bed of openBeds) bed.killNow();
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const bed of openBeds) bed.killNow();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}

/** Ports handed out by this process, never handed out twice. */
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => {
      resolve(false);
    });
    srv.listen(port, "127.0.0.1", () => {
      srv.close(() => {
        resolve(true);
      });
    });
  });
}

/**
 * A free loopback port below the kernel's ephemeral range (32768 and up on
 * Linux), so that outgoing connections, which take ephemeral ports, cannot grab
 * it between now and the moment a server binds it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port between 20000 and 32000 on 127.0.0.1");
}

class LocalCluster implements TestCluster {
  readonly managed = true;
  private apiserver: ChildProcess | undefined;
  private controllerManager: ChildProcess | undefined;
  private scheduler: ChildProcess | undefined;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly logs: { apiserver: string; controllerManager: string; scheduler?: string };
  readonly auditLog: string | undefined;

  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly dir: string,
    private readonly ports: { api: number; etcdClient: number; etcdPeer: number },
    private readonly log: (msg: string) => void,
    private readonly readyTimeoutSeconds: number,
    audit = false,
    private readonly scheduled = false,
  ) {
    this.server = `https://127.0.0.1:${ports.api}`;
    this.kubeconfigPath = join(dir, "pki", "kubeconfig");
    this.logs = {
      apiserver: join(dir, "apiserver.log"),
      controllerManager: join(dir, "controller-manager.log"),
      ...(scheduled ? { scheduler: join(dir, "scheduler.log") } : {}),
    };
    this.auditLog = audit ? join(dir, "audit.log") : undefined;
  }

  get running(): boolean {
    return this.apiserver !== undefined;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  async init(): Promise<void> {
    await run(this.binary, [
      "pki",
      "--dir",
      join(this.dir, "pki"),
      "--server",
      this.server,
      "--name",
      this.name,
    ]);
  }

  async start(): Promise<void> {
    if (this.running) return;
    const pki = join(this.dir, "pki");
    const audit: string[] = [];
    if (this.auditLog) {
      const policy = join(this.dir, "audit-policy.yaml");
      writeFileSync(policy, auditPolicy);
      audit.push(
        `--audit-policy-file=${policy}`,
        `--audit-log-path=${this.auditLog}`,
        "--audit-log-format=json",
      );
    }
    this.apiserver = this.spawn("apiserver", this.logs.apiserver, [
      "--etcd-dir",
      join(this.dir, "etcd"),
      "--etcd-client-port",
      String(this.ports.etcdClient),
      "--etcd-peer-port",
      String(this.ports.etcdPeer),
      "--",
      `--etcd-servers=http://127.0.0.1:${this.ports.etcdClient}`,
      `--cert-dir=${pki}`,
      `--tls-cert-file=${join(pki, "apiserver.crt")}`,
      `--tls-private-key-file=${join(pki, "apiserver.key")}`,
      `--client-ca-file=${join(pki, "ca.crt")}`,
      `--secure-port=${this.ports.api}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      "--disable-admission-plugins=ServiceAccount",
      "--authorization-mode=RBAC",
      `--service-account-issuer=${this.server}`,
      `--service-account-key-file=${join(pki, "sa.pub")}`,
      `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--endpoint-reconciler-type=none",
      ...audit,
      "--v=0",
    ]);
    await this.waitReady();
    this.controllerManager = this.spawn("controller-manager", this.logs.controllerManager, [
      "--",
      `--kubeconfig=${this.kubeconfigPath}`,
      "--controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token,disruption,persistentvolume-binder,nodelifecycle",
      "--leader-elect=false",
      "--secure-port=0",
      `--service-account-private-key-file=${join(pki, "sa.key")}`,
      `--root-ca-file=${join(pki, "ca.crt")}`,
      "--use-service-account-credentials=false",
      "--concurrent-gc-syncs=5",
      "--v=0",
    ]);
    if (this.logs.scheduler)
      this.scheduler = this.spawn("scheduler", this.logs.scheduler, [
        "--",
        `--kubeconfig=${this.kubeconfigPath}`,
        "--leader-elect=false",
        "--secure-port=0",
        "--v=0",
      ]);
  }

  private spawn(sub: string, logPath: string, args: string[]): ChildProcess {
    const out = createWriteStream(logPath, { flags: "a" });
    const child = spawn(this.binary, [sub, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    child.on("exit", (code, signal) => {
      if (sub === "apiserver" && this.apiserver === child) this.apiserver = undefined;
      if (sub === "controller-manager" && this.controllerManager === child)
        this.controllerManager = undefined;
      if (sub === "scheduler" && this.scheduler === child) this.scheduler = undefined;
      if (!this.stopping && code !== 0) {
        this.log(`${this.name}: ${sub} exited unexpectedly (${signal ?? code}); see ${logPath}`);
      }
    });
    return child;
  }

  private stopping = false;

  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    this.stopping = true;
    try {
      await Promise.all([
        stopProcess(this.scheduler, signal),
        stopProcess(this.controllerManager, signal),
        stopProcess(this.apiserver, signal),
      ]);
    } finally {
      this.apiserver = undefined;
      this.controllerManager = undefined;
      this.scheduler = undefined;
      this.stopping = false;
    }
  }

  killNow(): void {
    this.scheduler?.kill("SIGKILL");
    this.controllerManager?.kill("SIGKILL");
    this.apiserver?.kill("SIGKILL");
  }

  private async waitReady(): Promise<void> {
    const pki = join(this.dir, "pki");
    const tls = {
      ca: readFileSync(join(pki, "ca.crt")),
      cert: readFileSync(join(pki, "admin.crt")),
      key: readFileSync(join(pki, "admin.key")),
    };
    const deadline = Date.now() + this.readyTimeoutSeconds * 1000;
    let last = "";
    while (Date.now() < deadline) {
      if (!this.apiserver) {
        throw new Error(
          `${this.name}: kube-apiserver exited during start-up:\n${tail(this.logs.apiserver)}`,
        );
      }
      last = await new Promise<string>((resolve) => {
        const req = request(`${this.server}/readyz`, { ...tls, timeout: 2000 }, (res) => {
          res.resume();
          resolve(String(res.statusCode));
        });
        req.on("error", (e) => {
          resolve(e.message);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.end();
      });
      if (last === "200") return;
      await sleep(250);
    }
    throw new Error(
      `${this.name}: kube-apiserver not ready within ${this.readyTimeoutSeconds}s (last: ${last}):\n${tail(this.logs.apiserver)}`,
    );
  }
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Signals a child process and waits for it to exit, SIGKILL after 15 s. */
export async function stopProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

class LocalTestBed implements TestBed {
  private closed = false;
  constructor(
    readonly clusters: LocalCluster[],
    private readonly root: string,
  ) {}

  cluster(name: string): TestCluster {
    const c = this.clusters.find((x) => x.name === name);
    if (!c) throw new Error(`no cluster ${name} in the test bed`);
    return c;
  }

  killNow(): void {
    for (const c of this.clusters) c.killNow();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openBeds.delete(this);
    await Promise.all(this.clusters.map((c) => c.stop("SIGTERM")));
    if (!process.env["STRETCH_KAFKA_KEEP_TESTBED"])
      rmSync(this.root, { recursive: true, force: true });
  }
}

class GivenCluster implements TestCluster {
  readonly managed = false;
  readonly running = true;
  readonly server: string;
  readonly logs = { apiserver: "(external cluster)", controllerManager: "(external cluster)" };
  constructor(
    readonly name: string,
    readonly kubeconfigPath: string,
  ) {
    const server = this.kubeConfig().getCurrentCluster()?.server;
    if (!server) throw new Error(`kubeconfig ${kubeconfigPath} has no current cluster`);
    this.server = server;
  }
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }
  stop(): Promise<void> {
    return Promise.reject(
      new Error(`cluster ${this.name} was given by kubeconfig; the test bed cannot stop it`),
    );
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
}

/** Kubeconfig paths given instead of a local test bed, if any. */
export function givenKubeconfigs(): string[] {
  const v = process.env["STRETCH_KAFKA_KUBECONFIGS"];
  return v
    ? v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
}

export async function startTestBed(opts: TestBedOptions): Promise<TestBed> {
  const log =
    opts.log ??
    ((m: string) => {
      console.error(m);
    });
  const given = givenKubeconfigs();
  if (given.length > 0) {
    if (given.length < opts.names.length) {
      throw new Error(
        `STRETCH_KAFKA_KUBECONFIGS names ${given.length} clusters; this test needs ${opts.names.length} (${opts.names.join(", ")})`,
      );
    }
    const clusters = opts.names.map((n, i) => new GivenCluster(n, given[i] ?? ""));
    return {
      clusters,
      cluster: (name) => {
        const c = clusters.find((x) => x.name === name);
        if (!c) throw new Error(`no cluster ${name}`);
        return c;
      },
      close: () => Promise.resolve(),
    };
  }

  installExitHooks();
  const { path: binary } = await kubebedBinary(log);
  const root = mkdtempSync(join(tmpdir(), "stretch-kafka-bed-"));
  const clusters: LocalCluster[] = [];
  for (const name of opts.names) {
    const ports = {
      api: await freePort(),
      etcdClient: await freePort(),
      etcdPeer: await freePort(),
    };
    clusters.push(
      new LocalCluster(
        name,
        binary,
        join(root, name),
        ports,
        log,
        opts.readyTimeoutSeconds ?? 90,
        opts.auditServiceAccounts,
        opts.scheduled?.includes(name),
      ),
    );
  }
  const bed = new LocalTestBed(clusters, root);
  openBeds.add(bed);
  try {
    await Promise.all(
      clusters.map(async (c, i) => {
        for (let attempt = 1; ; attempt++) {
          try {
            await c.init();
            await c.start();
            return;
          } catch (err) {
            // Another process took a port first: try again on new ones.
            if (attempt >= 3 || !String(err).includes("address already in use")) throw err;
            log(`${c.name}: a port was taken meanwhile; starting again on other ports`);
            await c.stop();
            const ports = {
              api: await freePort(),
              etcdClient: await freePort(),
              etcdPeer: await freePort(),
            };
            const fresh = new LocalCluster(
              c.name,
              binary,
              join(root, `${c.name}-${attempt}`),
              ports,
              log,
              opts.readyTimeoutSeconds ?? 90,
              opts.auditServiceAccounts,
              opts.scheduled?.includes(c.name),
            );
            clusters[i] = fresh;
            c = fresh;
          }
        }
      }),
    );
  } catch (err) {
    await bed.close();
    throw err;
  }
  return bed;
}
