/**
 * The kubelet and container runtime of one simulated Kubernetes cluster,
 * played with real processes (the development bed has no kubelet).
 *
 * It registers the cluster's nodes (NodeAgentOptions.nodes, Ready, with
 * room for every pod) and watches the Kafka pods the Strimzi player creates
 * from the podsets, exactly as real Strimzi does; the real kube-scheduler
 * places each on a node (the anti-affinity the function renders, cordons,
 * volumes), and for each pod placed on one of its nodes the agent:
 * - mounts its volumes: the node's ConfigMap (or a projection of ConfigMaps:
 *   the node's and the cluster's exporter configuration) as files, each
 *   PersistentVolumeClaim as a directory kept by the claim's uid (a pod
 *   deleted and created again finds its data; a new claim is a new, empty
 *   volume), each emptyDir as a directory of that pod;
 * - runs its init containers' and its container's commands, then Kafka, from
 *   Maven Central's jars of the Kafka version its image names;
 * - reports the pod's status as a kubelet would: Running with its address,
 *   restarts counted, and Ready from the check Strimzi's readiness probe
 *   makes (kafka_readiness.sh): a controller-only node listens on its
 *   control-plane port; any other node's broker state is RUNNING (3), read
 *   from the broker's own log line for that transition where Strimzi's
 *   Kafka agent reads the BrokerState metric;
 * - on deletion, stops Kafka with SIGTERM (a controlled shutdown) and kills
 *   it after the pod's grace period, then removes the pod object; a Kafka
 *   that exits by itself is started again with the kubelet's back-off.
 *
 * What a container has that a process here does not, and the stand-in for
 * each (nothing else in the rendered files changes):
 * - its own network namespace: `listeners` binds the pod's address instead of
 *   0.0.0.0, and names resolve through its cluster's hosts file (network.ts);
 * - its own filesystem: the image's paths and every mount path are below the
 *   pod's directory, and the files and scripts are rewritten to say so;
 * - the stock image's kafka_run.sh: its format step, verbatim, then Kafka
 *   started on the properties it wrote (/tmp/strimzi.properties);
 * - Strimzi's KubernetesSecretConfigProvider, which reads
 *   `${strimzisecrets:<namespace>/<secret>:<key>}` from the API server with the
 *   pod's ServiceAccount: the agent asks the API server whether that
 *   ServiceAccount may get each Secret (a SubjectAccessReview) and writes it
 *   below the process's working directory, where Kafka's own
 *   DirectoryConfigProvider reads the same reference; a Secret the pod may
 *   not read fails the container, as it fails Kafka's start.
 * - cgroup memory: a pod with no -Xmx gets the agent's default heap.
 * - with KAFKA_JMX_EXPORTER_ENABLED=true, kafka_run.sh's JMX exporter agent
 *   (the same jar version, from Maven Central) on the pod's address and port
 *   9404 rather than every address.
 * The liveness probe is not played, and ConfigMap files are written when the
 * container starts, not refreshed while it runs as a kubelet does.
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  appendFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { once } from "node:events";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import {
  KubeApiError,
  type DynamicClient,
  type KubeObject,
} from "../../controller/kube/dynamic.ts";
import { describeError } from "../../controller/kube/errors.ts";
import { Informer } from "../../controller/kube/informer.ts";
import { reapOnExit } from "../reaper.ts";
import { run, RunError } from "../run.ts";
import { volumeDir } from "./disks.ts";
import type { DnsRecord, StretchNetwork } from "./network.ts";
import { jmxExporterJar, kafkaClasspath } from "./runtime.ts";
import { metricsConfigKey, metricsPort } from "../../functions/stretch-kafka/metrics.ts";

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
  readinessProbe?: { initialDelaySeconds?: number; periodSeconds?: number };
}

interface ConfigMapSource {
  name: string;
  items?: { key: string; path: string }[];
}

interface Volume {
  name: string;
  configMap?: ConfigMapSource;
  projected?: { sources: { configMap?: ConfigMapSource }[] };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: object;
}

export interface Pod extends KubeObject {
  spec: {
    nodeName?: string;
    hostname?: string;
    subdomain?: string;
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    initContainers?: Container[];
    containers: Container[];
    volumes?: Volume[];
  };
  status?: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount?: number; state?: Record<string, unknown> }[];
  };
}

interface Service extends KubeObject {
  spec: {
    clusterIP?: string;
    selector?: Record<string, string>;
    publishNotReadyAddresses?: boolean;
  };
}

/** One pod's Kafka as this agent runs it. */
interface Running {
  uid: string;
  name: string;
  ip: string;
  root: string;
  proc: ChildProcess | undefined;
  exited: Promise<unknown>;
  /** When the current process started (ISO), and whether it has exited since. */
  startedAt: string;
  exitCode: number | null | undefined;
  restarts: number;
  /** The init containers have completed. */
  initialized: boolean;
  /** Broker state RUNNING seen in this process's log. */
  brokerRunning: boolean;
  controllerOnly: boolean;
  controlPlanePort: number;
  ready: boolean;
  readyAfter: number;
  restartAt: number;
  /** Why the container is not running, when it is not. */
  waiting: { reason: string; message: string } | undefined;
  lastStatus: string;
}

/** Strimzi's kafka_run.sh format step (1.2 and main, 2026-08), as the stock image runs it. */
const stockFormatStep = `#!/usr/bin/env bash
set -e
STRIMZI_CLUSTER_ID=$(cat "$KAFKA_HOME/custom-config/cluster.id")
METADATA_VERSION=$(cat "$KAFKA_HOME/custom-config/metadata.version")
cp "$KAFKA_HOME/custom-config/server.config" /tmp/strimzi.properties
./bin/kafka-storage.sh format -t="$STRIMZI_CLUSTER_ID" -r="$METADATA_VERSION" -c=/tmp/strimzi.properties -g
`;

/** BrokerLifecycleManager's line when the broker state becomes RUNNING. */
const brokerRunningLine = "Transitioning from RECOVERY to RUNNING";

const fm = { fieldManager: "kubelet" };

export interface NodeAgentOptions {
  cluster: string;
  client: DynamicClient;
  namespace: string;
  network: StretchNetwork;
  /** This cluster's node disk: pod directories and volumes. */
  dir: string;
  log: Logger;
  clusterSetDomain?: string;
  /** The heap of a pod whose JVM options set no maximum. */
  defaultHeap?: string;
  /** Nodes of this cluster (default 3), named `<cluster>-node-<n>`. */
  nodes?: number;
}

/** How often a node's Lease is renewed (the kubelet's default). */
const leaseRenewMs = 10_000;

/** What a node offers the scheduler: room for any pod the bed runs. */
const nodeCapacity = { cpu: "32", memory: "128Gi", pods: "110", "ephemeral-storage": "1Ti" };

export class NodeAgent {
  private pods!: Informer<Pod>;
  private services!: Informer<Service>;
  private exports!: Informer;
  private readonly running = new Map<string, Running>();
  /** Pods with an action in flight (start, stop), by name. */
  private readonly busy = new Map<string, Promise<void>>();
  private loop: Promise<void> | undefined;
  private active = false;
  private wake: (() => void) | undefined;
  readonly nodeNames: string[];

  constructor(private readonly o: NodeAgentOptions) {
    this.nodeNames = Array.from({ length: o.nodes ?? 3 }, (_, i) => `${o.cluster}-node-${i + 1}`);
  }

  get cluster(): string {
    return this.o.cluster;
  }

  start(): void {
    const { client, namespace, log } = this.o;
    this.pods = new Informer<Pod>(
      client,
      { apiVersion: "v1", kind: "Pod", namespace, labelSelector: "strimzi.io/kind=Kafka" },
      log,
    );
    this.services = new Informer<Service>(
      client,
      { apiVersion: "v1", kind: "Service", namespace },
      log,
    );
    this.exports = new Informer(
      client,
      { apiVersion: "multicluster.x-k8s.io/v1alpha1", kind: "ServiceExport", namespace },
      log,
    );
    const poke = (): void => this.wake?.();
    for (const i of [this.pods, this.services, this.exports]) i.on(poke);
    this.active = true;
    this.loop = this.run();
  }

  /** Stops watching; Kafka keeps running (an agent restart). */
  async stop(): Promise<void> {
    this.active = false;
    this.wake?.();
    await this.loop;
    await Promise.all([this.pods.stop(), this.services.stop(), this.exports.stop()]);
  }

  /** The whole node is lost: every Kafka process is SIGKILLed, nothing is reported. */
  async kill(): Promise<void> {
    await this.stop();
    await Promise.all([...this.busy.values()].map((p) => p.catch(() => {})));
    await Promise.all([...this.running.values()].map((r) => this.killProcess(r)));
    this.running.clear();
  }

  /** The Kafka log of a running pod, for failure messages. */
  logPath(pod: string): string | undefined {
    const r = this.running.get(pod);
    return r ? join(r.root, "kafka.log") : undefined;
  }

  /** The log of the pod with this uid, running or gone (its directory stays on the node). */
  logOf(uid: string): string {
    return join(this.podDir(uid), "kafka.log");
  }

  private podDir(uid: string): string {
    return join(this.o.dir, "pods", uid);
  }

  private async run(): Promise<void> {
    await Promise.all([this.pods.start(), this.services.start(), this.exports.start()]);
    await Promise.all(this.nodeNames.map((n) => this.register(n)));
    let renewed = 0;
    while (this.active) {
      try {
        if (Date.now() - renewed >= leaseRenewMs) {
          await Promise.all(this.nodeNames.map((n) => this.renewLease(n)));
          renewed = Date.now();
        }
        await this.sync();
      } catch (err) {
        this.o.log.debug({ cluster: this.cluster, err: describeError(err) }, "node agent");
      }
      await Promise.race([new Promise<void>((r) => (this.wake = r)), sleep(1000)]);
    }
  }

  private async sync(): Promise<void> {
    const pods = new Map(this.pods.list().map((p) => [p.metadata.name ?? "", p]));
    // A pod object gone (or replaced) without a graceful stop: force-deleted.
    for (const [name, r] of this.running) {
      const pod = pods.get(name);
      if (pod?.metadata.uid === r.uid || this.busy.has(name)) continue;
      this.task(name, async () => {
        await this.killProcess(r);
        this.running.delete(name);
      });
    }
    for (const [name, pod] of pods) {
      if (this.busy.has(name)) continue;
      const r = this.running.get(name);
      if (!this.nodeNames.includes(pod.spec.nodeName ?? "")) {
        continue; // not placed yet, or on a node this agent does not play
      } else if (pod.metadata.deletionTimestamp) {
        this.task(name, () => this.delete(pod));
      } else if (!r || r.uid !== pod.metadata.uid) {
        if (!r) this.task(name, () => this.startPod(pod));
      } else if (r.exitCode !== undefined && Date.now() >= r.restartAt) {
        this.task(name, () => this.restartContainer(pod, r));
      } else {
        await this.probe(r);
        await this.report(pod, r);
      }
    }
    this.o.network.publish(this.cluster, this.records([...pods.values()]));
  }

  private task(name: string, fn: () => Promise<void>): void {
    const p = fn()
      .catch((err: unknown) => {
        this.o.log.debug({ cluster: this.cluster, pod: name, err: describeError(err) }, "pod");
      })
      .finally(() => {
        this.busy.delete(name);
        this.wake?.();
      });
    this.busy.set(name, p);
  }

  /**
   * The kubelet's heartbeat: its node's Lease in kube-node-lease, renewed every
   * 10 s. The real node lifecycle controller reads it: it removes the
   * not-ready taint the API server puts on a new node, and would mark the node
   * NotReady after its grace period without renewals (the agent stopped, as
   * when the whole cluster is lost).
   */
  private async renewLease(name: string): Promise<void> {
    await this.o.client.apply(
      {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace: "kube-node-lease" },
        spec: {
          holderIdentity: name,
          leaseDurationSeconds: 40,
          // A MicroTime: six fractional digits.
          renewTime: new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z"),
        },
      },
      fm,
    );
  }

  /**
   * A node as the kubelet registers it: labelled with its host name and its
   * cluster as the zone, Ready, with room for every pod. Not schedulable
   * (`spec.unschedulable`) is left to whoever cordons it.
   */
  private async register(name: string): Promise<void> {
    const { client, log } = this.o;
    try {
      await client.apply(
        {
          apiVersion: "v1",
          kind: "Node",
          metadata: {
            name,
            labels: {
              "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux",
              "topology.kubernetes.io/zone": this.cluster,
            },
          },
        },
        fm,
      );
      const now = new Date().toISOString();
      await client.apply(
        {
          apiVersion: "v1",
          kind: "Node",
          metadata: { name },
          status: {
            capacity: nodeCapacity,
            allocatable: nodeCapacity,
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "KubeletReady",
                message: "the node agent plays this node's kubelet",
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
          },
        },
        { ...fm, subresource: "status" },
      );
    } catch (err) {
      log.warn(
        { cluster: this.cluster, node: name, err: describeError(err) },
        "node not registered",
      );
    }
  }

  /** Graceful deletion: stop Kafka, then remove the pod object, as the kubelet does. */
  private async delete(pod: Pod): Promise<void> {
    const r = this.running.get(pod.metadata.name ?? "");
    if (r && r.uid === pod.metadata.uid) {
      const meta = pod.metadata as { deletionGracePeriodSeconds?: number };
      const grace =
        (meta.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      await this.terminate(r, grace);
      this.running.delete(r.name);
    }
    await this.o.client
      .request(
        "DELETE",
        await this.o.client.path("v1", "Pod", this.o.namespace, pod.metadata.name),
        {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata.uid },
        },
      )
      .catch((err: unknown) => {
        if (!(err instanceof KubeApiError && (err.code === 404 || err.code === 409))) throw err;
      });
  }

  private async startPod(pod: Pod): Promise<void> {
    const name = pod.metadata.name ?? "";
    const ip = this.o.network.address(this.cluster, name);
    const c = pod.spec.containers[0];
    if (!c) throw new Error(`pod ${name} has no container`);
    const ports = (c.ports ?? []).map((p) => p.containerPort);
    const previous = pod.status?.containerStatuses?.[0];
    const r: Running = {
      uid: pod.metadata.uid ?? "",
      name,
      ip,
      root: this.podDir(pod.metadata.uid ?? name),
      proc: undefined,
      exited: Promise.resolve(),
      startedAt: "",
      exitCode: undefined,
      // Pods listed again after the node came back: their containers restart.
      restarts: previous?.state ? (previous.restartCount ?? 0) + 1 : 0,
      brokerRunning: false,
      controllerOnly: false,
      controlPlanePort: 9090,
      ready: false,
      readyAfter: 0,
      restartAt: 0,
      initialized: false,
      waiting: undefined,
      lastStatus: "",
    };
    this.running.set(name, r);
    await this.o.network.expose(ip, ports);
    await this.startContainer(pod, r);
  }

  /** Mounts, init containers (once), the container: a failure is the container's, retried with back-off. */
  private async startContainer(pod: Pod, r: Running): Promise<void> {
    try {
      await this.mount(pod, r);
      await this.initialize(pod, r);
      await this.launch(pod, r);
    } catch (err) {
      this.failed(r, "CreateContainerError", describeError(err));
    }
    await this.report(pod, r);
  }

  private async initialize(pod: Pod, r: Running): Promise<void> {
    if (r.initialized) return;
    for (const init of pod.spec.initContainers ?? []) await this.runToCompletion(pod, r, init);
    r.initialized = true;
  }

  private async restartContainer(pod: Pod, r: Running): Promise<void> {
    r.restarts++;
    r.exitCode = undefined;
    r.waiting = undefined;
    await this.startContainer(pod, r);
  }

  private failed(r: Running, reason: string, message: string): void {
    r.exitCode ??= null;
    r.ready = false;
    r.waiting = { reason, message };
    // The kubelet's back-off: 10 s, doubling, at most 5 minutes.
    r.restartAt = Date.now() + Math.min(10_000 * 2 ** Math.min(r.restarts, 5), 300_000);
    this.o.log.info({ cluster: this.cluster, pod: r.name, reason, message }, "container failed");
  }

  /** The pod's files: image paths and mounts below its root, the stand-ins applied. */
  private async mount(pod: Pod, r: Running): Promise<void> {
    const { client, namespace } = this.o;
    const c = pod.spec.containers[0];
    if (!c) return;
    const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    const home = join(r.root, "opt", "kafka");
    mkdirSync(join(home, "bin"), { recursive: true });
    mkdirSync(join(r.root, "tmp"), { recursive: true });
    const mounts = [
      ...(c.volumeMounts ?? []),
      ...(pod.spec.initContainers ?? []).flatMap((i) => i.volumeMounts ?? []),
    ];
    let files: Record<string, string> = {};
    for (const m of mounts) {
      const v = volumes.get(m.name);
      const at = join(r.root, m.mountPath);
      if (!v) continue;
      mkdirSync(dirname(at), { recursive: true });
      // A ConfigMap, or a projection of ConfigMaps only (the service account
      // token's projection is the API client's, not files of Kafka's).
      const sources = v.configMap
        ? [v.configMap]
        : v.projected?.sources.every((src) => src.configMap)
          ? v.projected.sources.flatMap((src) => (src.configMap ? [src.configMap] : []))
          : [];
      if (sources.length > 0) {
        files = {};
        for (const src of sources) Object.assign(files, await this.configMapFiles(src));
        mkdirSync(at, { recursive: true });
      } else if (existsSync(at)) {
        continue;
      } else if (v.persistentVolumeClaim) {
        const pvc = await client.find(
          "v1",
          "PersistentVolumeClaim",
          v.persistentVolumeClaim.claimName,
          namespace,
        );
        if (!pvc) {
          throw new Error(`persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" not found`);
        }
        const disk = volumeDir(this.o.dir, pvc.metadata.uid ?? "");
        mkdirSync(disk, { recursive: true });
        symlinkSync(disk, at.replace(/\/+$/, ""));
      } else if (v.emptyDir) {
        mkdirSync(at, { recursive: true });
      }
    }
    const rewrite = pathRewriter(
      r.root,
      mounts.map((m) => m.mountPath),
    );
    const custom = join(home, "custom-config");
    mkdirSync(custom, { recursive: true });
    const config = files["server.config"] ?? "";
    r.controllerOnly = /^process\.roles=controller\s*$/m.test(config);
    const cp = /^listeners=.*CONTROLPLANE-9090:\/\/[^:,]*:(\d+)/m.exec(config);
    if (cp?.[1]) r.controlPlanePort = Number(cp[1]);
    for (const [k, v] of Object.entries(files)) {
      writeFileSync(
        join(custom, k),
        k === "server.config" ? this.serverConfig(v, r, rewrite) : rewrite(v),
      );
    }
    await this.secrets(pod, r, config);
    const classpath = await kafkaClasspath(kafkaVersion(c.image), () => {});
    const java = javaArgs(this.o.network.hostsFile(this.cluster), classpath, "256m")
      .map((a) => `'${a}'`)
      .join(" ");
    writeFileSync(
      join(home, "bin", "kafka-storage.sh"),
      `#!/bin/bash\ncd '${join(r.root, "secrets")}'\nexec java ${java} kafka.tools.StorageTool "$@"\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(home, "kafka_run.sh"), rewrite(stockFormatStep), { mode: 0o755 });
  }

  /** A ConfigMap volume source's files, as the kubelet writes them (all keys, or the items named). */
  private async configMapFiles(src: ConfigMapSource): Promise<Record<string, string>> {
    const cm = await this.o.client.find<KubeObject & { data?: Record<string, string> }>(
      "v1",
      "ConfigMap",
      src.name,
      this.o.namespace,
    );
    if (!cm) throw new Error(`configmap "${src.name}" not found`);
    const data = cm.data ?? {};
    if (!src.items) return data;
    const out: Record<string, string> = {};
    for (const item of src.items) {
      const value = data[item.key];
      if (value === undefined) {
        throw new Error(`configmap "${src.name}": key "${item.key}" not found`);
      }
      out[item.path] = value;
    }
    return out;
  }

  private serverConfig(config: string, r: Running, rewrite: (t: string) => string): string {
    return rewrite(config)
      .replace(/^(listeners=.*)$/m, (line) => line.replaceAll("0.0.0.0", r.ip))
      .replace(
        /^config\.providers\.strimzisecrets\.class=.*$/m,
        "config.providers.strimzisecrets.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider",
      );
  }

  /** What KubernetesSecretConfigProvider would read, with the pod's own rights. */
  private async secrets(pod: Pod, r: Running, config: string): Promise<void> {
    const { client, namespace } = this.o;
    const sa = pod.spec.serviceAccountName ?? "default";
    const refs = new Set(
      [...config.matchAll(/\$\{strimzisecrets:([^/]+)\/([^:]+):([^}]+)\}/g)].map(
        (m) => `${m[1]}/${m[2]}`,
      ),
    );
    for (const ref of refs) {
      const [ns = "", name = ""] = ref.split("/");
      const review = await client.create<KubeObject & { status?: { allowed?: boolean } }>({
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        metadata: {},
        spec: {
          user: `system:serviceaccount:${namespace}:${sa}`,
          groups: [
            "system:serviceaccounts",
            `system:serviceaccounts:${namespace}`,
            "system:authenticated",
          ],
          resourceAttributes: { namespace: ns, verb: "get", resource: "secrets", name },
        },
      });
      if (!review.status?.allowed) {
        throw new Error(
          `KubernetesSecretConfigProvider: secrets "${name}" is forbidden: User "system:serviceaccount:${namespace}:${sa}" cannot get resource "secrets" in the namespace "${ns}"`,
        );
      }
      const secret = await client.find<KubeObject & { data?: Record<string, string> }>(
        "v1",
        "Secret",
        name,
        ns,
      );
      if (!secret) throw new Error(`KubernetesSecretConfigProvider: secrets "${name}" not found`);
      const dir = join(r.root, "secrets", ns, name);
      mkdirSync(dir, { recursive: true });
      for (const [k, v] of Object.entries(secret.data ?? {})) {
        writeFileSync(join(dir, k), Buffer.from(v, "base64"));
      }
    }
    mkdirSync(join(r.root, "secrets"), { recursive: true });
  }

  private commandOf(c: Container, rewrite: (t: string) => string): string[] {
    return [...(c.command ?? []), ...(c.args ?? [])].map(rewrite);
  }

  private env(c: Container, r: Running): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, KAFKA_HOME: join(r.root, "opt", "kafka") };
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    return env;
  }

  private async runToCompletion(pod: Pod, r: Running, c: Container): Promise<void> {
    const rewrite = pathRewriter(r.root, mountPaths(pod));
    const [cmd = "", ...args] = this.commandOf(c, rewrite);
    const log = join(r.root, "kafka.log");
    // What it printed goes to the pod's log, as a container's output would.
    try {
      const out = await run(cmd, args, { cwd: join(r.root, "opt", "kafka"), env: this.env(c, r) });
      appendFileSync(log, `[${c.name}] ${out.stdout}${out.stderr}`);
    } catch (err) {
      if (err instanceof RunError) appendFileSync(log, `[${c.name}] ${err.stdout}${err.stderr}`);
      throw err;
    }
  }

  /**
   * The container: its command up to the point where the stock start script
   * has formatted storage (the stand-in kafka_run.sh stops there), then Kafka
   * on the properties that script wrote.
   */
  private async launch(pod: Pod, r: Running): Promise<void> {
    const c = pod.spec.containers[0];
    if (!c) return;
    await this.runToCompletion(pod, r, c);
    const custom = join(r.root, "opt", "kafka", "custom-config");
    const classpath = await kafkaClasspath(kafkaVersion(c.image), () => {});
    const heap = heapOptions(this.env(c, r)["KAFKA_HEAP_OPTS"], this.o.defaultHeap ?? "384m");
    // kafka_run.sh's agent line, bound to the pod's address (no network namespace here).
    const exporter =
      this.env(c, r)["KAFKA_JMX_EXPORTER_ENABLED"] === "true"
        ? [
            `-javaagent:${await jmxExporterJar()}=${r.ip}:${metricsPort.port}:${join(custom, metricsConfigKey)}`,
          ]
        : [];
    const out = createWriteStream(join(r.root, "kafka.log"), { flags: "a" });
    await once(out, "open");
    const proc = spawn(
      "java",
      [
        ...heap,
        ...exporter,
        ...javaArgs(this.o.network.hostsFile(this.cluster), classpath),
        `-Dlog4j2.configurationFile=${join(custom, "log4j2.properties")}`,
        "kafka.Kafka",
        join(r.root, "tmp", "strimzi.properties"),
      ],
      { cwd: join(r.root, "secrets"), stdio: ["ignore", "pipe", "pipe"] },
    );
    reapOnExit(proc);
    proc.stdout.pipe(out);
    proc.stderr.pipe(out);
    r.brokerRunning = false;
    createInterface({ input: proc.stdout }).on("line", (line) => {
      if (line.includes(brokerRunningLine)) {
        r.brokerRunning = true;
        this.wake?.();
      }
    });
    r.proc = proc;
    r.startedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    r.exitCode = undefined;
    r.ready = false;
    r.readyAfter = Date.now() + (c.readinessProbe?.initialDelaySeconds ?? 0) * 1000;
    r.exited = once(proc, "exit").then(([code]) => {
      if (r.proc !== proc) return;
      r.proc = undefined;
      this.failed(r, "Error", `kafka exited with ${String(code)}`);
      r.exitCode = code as number | null;
      this.wake?.();
    });
  }

  /** kafka_readiness.sh, as the kubelet runs it. */
  private async probe(r: Running): Promise<void> {
    if (!r.proc || Date.now() < r.readyAfter) {
      r.ready = false;
      return;
    }
    r.ready = r.controllerOnly ? await listening(r.ip, r.controlPlanePort) : r.brokerRunning;
  }

  /** The pod's status as the kubelet reports it, written when it changed. */
  private async report(pod: Pod, r: Running): Promise<void> {
    const running = r.proc !== undefined;
    const ready = running && r.ready ? "True" : "False";
    const state = running
      ? { running: { startedAt: r.startedAt } }
      : {
          waiting: {
            reason:
              r.waiting?.reason === "Error"
                ? "CrashLoopBackOff"
                : (r.waiting?.reason ?? "ContainerCreating"),
            message: r.waiting?.message ?? "",
          },
        };
    const status = {
      phase: "Running",
      hostIP: "127.0.0.1",
      podIP: r.ip,
      podIPs: [{ ip: r.ip }],
      conditions: [
        { type: "PodScheduled", status: "True" },
        { type: "Initialized", status: "True" },
        { type: "ContainersReady", status: ready },
        { type: "Ready", status: ready },
      ],
      containerStatuses: [
        {
          name: pod.spec.containers[0]?.name ?? "kafka",
          image: pod.spec.containers[0]?.image ?? "",
          imageID: "",
          ready: ready === "True",
          started: running,
          restartCount: r.restarts,
          state,
        },
      ],
    };
    const digest = JSON.stringify(status);
    if (digest === r.lastStatus) return;
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    await this.o.client.apply(
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: r.name, namespace: this.o.namespace },
        status: {
          ...status,
          startTime: r.startedAt || now,
          conditions: status.conditions.map((x) => ({ ...x, lastTransitionTime: now })),
        },
      },
      { ...fm, subresource: "status", force: true },
    );
    r.lastStatus = digest;
  }

  private async terminate(r: Running, graceMs: number): Promise<void> {
    const proc = r.proc;
    if (!proc) return;
    r.proc = undefined;
    proc.kill("SIGTERM");
    const killed = sleep(graceMs).then(() => proc.kill("SIGKILL"));
    await Promise.race([once(proc, "exit"), killed]);
    if (proc.exitCode === null && proc.signalCode === null) await once(proc, "exit");
  }

  private async killProcess(r: Running): Promise<void> {
    const proc = r.proc;
    if (!proc) return;
    r.proc = undefined;
    const exited = once(proc, "exit");
    proc.kill("SIGKILL");
    await exited;
  }

  /** The names cluster DNS and the MCS provider give this cluster's pods and Services. */
  private records(pods: Pod[]): DnsRecord[] {
    const ns = this.o.namespace;
    const domain = this.o.clusterSetDomain ?? "clusterset.local";
    const up = pods.filter((p) => this.running.get(p.metadata.name ?? "")?.uid === p.metadata.uid);
    const ipOf = (p: Pod): string => this.o.network.address(this.cluster, p.metadata.name ?? "");
    const ready = (p: Pod): boolean => this.running.get(p.metadata.name ?? "")?.ready ?? false;
    const out: DnsRecord[] = [];
    const exported = new Set(this.exports.list().map((e) => e.metadata.name));
    for (const svc of this.services.list()) {
      const selector = Object.entries(svc.spec.selector ?? {});
      if (selector.length === 0) continue;
      const name = svc.metadata.name ?? "";
      const members = up.filter(
        (p) =>
          selector.every(([k, v]) => p.metadata.labels?.[k] === v) &&
          (svc.spec.publishNotReadyAddresses === true || ready(p)),
      );
      if (members.length === 0) continue;
      const ips = members.map(ipOf);
      const headless = svc.spec.clusterIP === "None";
      out.push(
        { name: `${name}.${ns}.svc.cluster.local`, ips, scope: "cluster" },
        { name: `${name}.${ns}.svc`, ips, scope: "cluster" },
      );
      if (exported.has(name))
        out.push({ name: `${name}.${ns}.svc.${domain}`, ips, scope: "clusterset" });
      if (!headless) continue;
      for (const p of members) {
        const host = p.spec.hostname ?? p.metadata.name ?? "";
        if (p.spec.subdomain === name) {
          out.push(
            { name: `${host}.${name}.${ns}.svc.cluster.local`, ips: [ipOf(p)], scope: "cluster" },
            { name: `${host}.${name}.${ns}.svc`, ips: [ipOf(p)], scope: "cluster" },
          );
        }
        if (exported.has(name)) {
          out.push({
            name: `${host}.${this.cluster}.${name}.${ns}.svc.${domain}`,
            ips: [ipOf(p)],
            scope: "clusterset",
          });
        }
      }
    }
    return out;
  }
}

/** The Kafka release a Strimzi image carries (`…:1.2.0-kafka-4.3.1`). */
function kafkaVersion(image: string | undefined): string {
  const m = /kafka-(\d+\.\d+\.\d+)$/.exec(image ?? "");
  if (!m?.[1]) throw new Error(`image ${image ?? "(none)"} names no Kafka release (…-kafka-X.Y.Z)`);
  return m[1];
}

function mountPaths(pod: Pod): string[] {
  return [pod.spec.containers[0], ...(pod.spec.initContainers ?? [])].flatMap((c) =>
    (c?.volumeMounts ?? []).map((m) => m.mountPath),
  );
}

/** Puts the image's paths and the mount paths below the pod's root. */
export function pathRewriter(root: string, mounts: string[]): (text: string) => string {
  const prefixes = [...new Set([...mounts.map((m) => m.replace(/\/+$/, "")), "/opt/kafka", "/tmp"])]
    .sort((a, b) => b.length - a.length)
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`(^|[\\s=,:"'(])(${prefixes.join("|")})(?=/|$|[\\s,"';)])`, "gm");
  return (text) => text.replace(re, (_m, pre: string, path: string) => pre + join(root, path));
}

function javaArgs(hostsFile: string, classpath: string, heap?: string): string[] {
  return [
    ...(heap ? [`-Xms${heap}`, `-Xmx${heap}`] : []),
    "-XX:+UseG1GC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
    `-Djdk.net.hosts.file=${hostsFile}`,
    "-cp",
    classpath,
  ];
}

/** KAFKA_HEAP_OPTS as kafka-server-start.sh uses it, with a maximum where it sets none. */
function heapOptions(opts: string | undefined, fallback: string): string[] {
  const given = (opts ?? "").split(/\s+/).filter(Boolean);
  return given.some((o) => o.startsWith("-Xmx")) ? given : [...given, `-Xmx${fallback}`];
}

function listening(host: string, port: number): Promise<boolean> {
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
