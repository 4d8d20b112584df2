/**
 * Plays a remote cluster's Strimzi cluster operator (its StrimziPodSet
 * controller, and the status its Kafka reconciler writes on a paused Kafka
 * CR), which cannot run here, and optionally the kubelet's shortcut (pods
 * marked Ready; where Kafka really runs, the node agents of devbed/kafka play
 * the kubelet instead). It is as unforgiving as Strimzi 1.2 (docs/adr/0006):
 *
 * - A podset or pod event is acted on only if the podset's Kafka CR
 *   (`strimzi.io/cluster`) is in the player's own Kafka cache at that moment;
 *   otherwise it is dropped, and only the resync (5 minutes, as Strimzi's
 *   informers) brings the podset back. A later Kafka CR event does not.
 * - Podset status is written only when a podset is reconciled; otherwise it
 *   stays as it was, whatever happens to the pods.
 * - Reconciling creates the listed pods that are missing (owned by the
 *   podset), deletes owned pods no longer listed, and never restarts a pod
 *   whose revision changed (the provider's rolling restart deletes it).
 * - A restart can replay the startup race Strimzi has: podset events
 *   delivered before the Kafka informer has listed are dropped.
 *
 * As the kubelet, it reports every pod Running and Ready, unless a node agent
 * runs the pods for real (`kubelet: false`).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { kafkaApiVersion } from "../apis/strimzi.ts";
import { KubeApiError, type DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { describeError } from "../controller/kube/errors.ts";
import { Informer } from "../controller/kube/informer.ts";

interface PodSet extends KubeObject {
  spec: { pods?: KubeObject[]; selector?: { matchLabels?: Record<string, string> } };
  status?: { observedGeneration?: number; pods?: number; readyPods?: number; currentPods?: number };
}

interface Pod extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

interface KafkaCr extends KubeObject {
  status?: { conditions?: { type: string; status: string }[]; observedGeneration?: number };
}

const fm = { fieldManager: "strimzi-player" };
const revision = (o: KubeObject): string => o.metadata.annotations?.["strimzi.io/revision"] ?? "";
const ready = (p: Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

export interface PlayerOptions {
  /** The podsets' API version (`core.strimzi.io/v1`, or `v1beta2` for Strimzi 0.49-0.51). */
  apiVersion?: string;
  /** How often every podset is delivered again, as an informer resync (Strimzi: 5 minutes). */
  resyncMs?: number;
  /**
   * Also play the kubelet by marking every pod Running and Ready (default).
   * False where a node agent runs the pods (devbed/kafka/node-agent.ts).
   */
  kubelet?: boolean;
}

export interface StartOptions {
  /**
   * Replays Strimzi's startup race: the podset and pod informers deliver
   * their first list before the Kafka informer has listed, so those events
   * are dropped.
   */
  kafkaInformerLate?: boolean;
}

export class StrimziPlayer {
  private kafkas!: Informer<KafkaCr>;
  private podSets!: Informer<PodSet>;
  private pods!: Informer<Pod>;
  private readonly apiVersion: string;
  private readonly resyncMs: number;
  private readonly kubelet: boolean;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Podsets queued for reconciliation (names). */
  private readonly queue = new Set<string>();
  /** Pods and Kafka CRs the kubelet and the Kafka reconciler have to look at. */
  private kubeletDirty = true;
  private kafkaDirty = true;
  /** Pods created, by name: what a test counts as (re)starts. */
  readonly started: string[] = [];
  /** Podset events dropped because their Kafka CR was not in the cache. */
  readonly dropped: string[] = [];

  constructor(
    private readonly cluster: string,
    private readonly client: DynamicClient,
    private readonly namespace: string,
    private readonly log: Logger,
    opts: PlayerOptions = {},
  ) {
    this.apiVersion = opts.apiVersion ?? "core.strimzi.io/v1";
    this.resyncMs = opts.resyncMs ?? 5 * 60_000;
    this.kubelet = opts.kubelet ?? true;
  }

  start(opts: StartOptions = {}): void {
    const { namespace, client, log } = this;
    this.kafkas = new Informer<KafkaCr>(
      client,
      { apiVersion: kafkaApiVersion(this.apiVersion), kind: "Kafka", namespace },
      log,
    );
    this.podSets = new Informer<PodSet>(
      client,
      { apiVersion: this.apiVersion, kind: "StrimziPodSet", namespace },
      log,
    );
    // Strimzi watches only its own pods.
    this.pods = new Informer<Pod>(
      client,
      { apiVersion: "v1", kind: "Pod", namespace, labelSelector: "strimzi.io/kind=Kafka" },
      log,
    );
    this.kafkas.on(() => {
      this.kafkaDirty = true;
      this.wake?.();
    });
    this.podSets.on((event, ps) => {
      if (event !== "delete") this.enqueue(ps, event);
    });
    this.pods.on((event, pod) => {
      this.kubeletDirty = true;
      const owner = pod.metadata.ownerReferences?.find((r) => r.kind === "StrimziPodSet");
      const ps = owner ? this.podSets.get(`${namespace}/${owner.name}`) : undefined;
      if (ps) this.enqueue(ps, `pod ${event}`);
    });
    this.running = true;
    this.loop = this.run(opts);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all([this.kafkas.stop(), this.podSets.stop(), this.pods.stop()]);
    this.queue.clear();
  }

  /** Stops and starts again, as an operator restart does. */
  async restart(opts: StartOptions = {}): Promise<void> {
    await this.stop();
    this.start(opts);
  }

  /** StrimziPodSetController.matchesCrSelector: the Kafka CR must be in the cache now. */
  private enqueue(ps: PodSet, why: string): void {
    const name = ps.metadata.labels?.["strimzi.io/cluster"];
    if (!name || !this.kafkas.get(`${this.namespace}/${name}`)) {
      this.dropped.push(ps.metadata.name ?? "");
      this.log.debug(
        { cluster: this.cluster, podSet: ps.metadata.name, why },
        "podset event dropped: does not belong to a Kafka cluster managed by this operator",
      );
      return;
    }
    this.queue.add(ps.metadata.name ?? "");
    this.wake?.();
  }

  private async run(opts: StartOptions): Promise<void> {
    if (opts.kafkaInformerLate) {
      await Promise.all([this.podSets.start(), this.pods.start()]);
      await this.kafkas.start();
    } else {
      await this.kafkas.start();
      await Promise.all([this.podSets.start(), this.pods.start()]);
    }
    let resyncAt = Date.now() + this.resyncMs;
    while (this.running) {
      if (Date.now() >= resyncAt) {
        resyncAt = Date.now() + this.resyncMs;
        for (const ps of this.podSets.list()) this.enqueue(ps, "resync");
      }
      try {
        await this.pass();
      } catch (err) {
        // An unreachable cluster is one that Strimzi cannot act in either.
        this.kubeletDirty = true;
        this.log.debug({ cluster: this.cluster, err: describeError(err) }, "strimzi player");
      }
      await Promise.race([
        new Promise<void>((resolve) => (this.wake = resolve)),
        sleep(this.kubeletDirty ? 300 : 1000),
      ]);
      await sleep(50);
    }
  }

  private async pass(): Promise<void> {
    if (this.kafkaDirty) {
      this.kafkaDirty = false;
      for (const k of this.kafkas.list()) await this.pausedStatus(k);
    }
    if (this.kubeletDirty && this.kubelet) {
      this.kubeletDirty = false;
      for (const p of this.pods.list()) {
        if (!ready(p) && !p.metadata.deletionTimestamp) await this.markReady(p);
      }
    }
    const names = [...this.queue];
    this.queue.clear();
    for (const name of names) {
      const ps = this.podSets.get(`${this.namespace}/${name}`);
      if (!ps) continue;
      try {
        await this.reconcile(ps);
      } catch (err) {
        this.queue.add(name);
        throw err;
      }
    }
  }

  /** What Strimzi's Kafka reconciler writes on a paused CR (AbstractOperator). */
  private async pausedStatus(k: KafkaCr): Promise<void> {
    if (k.metadata.annotations?.["strimzi.io/pause-reconciliation"] !== "true") return;
    if (k.status?.conditions?.some((c) => c.type === "ReconciliationPaused")) return;
    await this.client.apply(
      {
        apiVersion: k.apiVersion,
        kind: "Kafka",
        metadata: { name: k.metadata.name ?? "", namespace: this.namespace },
        status: {
          conditions: [
            {
              type: "ReconciliationPaused",
              status: "True",
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
            },
          ],
          observedGeneration: k.status?.observedGeneration ?? 0,
        },
      },
      { ...fm, subresource: "status" },
    );
  }

  /** One podset, from the caches: create, delete, then status if it changed. */
  private async reconcile(ps: PodSet): Promise<void> {
    const name = ps.metadata.labels?.["strimzi.io/cluster"] ?? "";
    if (!this.kafkas.get(`${this.namespace}/${name}`) || ps.metadata.deletionTimestamp) return;
    const wanted = (ps.spec.pods ?? []).filter((p) => p.metadata.name);
    const names = new Set(wanted.map((p) => p.metadata.name ?? ""));
    const pods = new Map(this.pods.list().map((p) => [p.metadata.name ?? "", p]));
    let readyPods = 0;
    let currentPods = 0;
    for (const def of wanted) {
      const pod = pods.get(def.metadata.name ?? "");
      if (!pod) {
        await this.createPod(ps, def);
        continue;
      }
      if (ready(pod)) readyPods++;
      if (revision(pod) === revision(def)) currentPods++;
    }
    const selector = Object.entries(ps.spec.selector?.matchLabels ?? {});
    for (const [podName, pod] of pods) {
      const matches = selector.every(([k, v]) => pod.metadata.labels?.[k] === v);
      if (matches && !names.has(podName) && !pod.metadata.deletionTimestamp) {
        await this.client.delete("v1", "Pod", podName, this.namespace);
      }
    }
    const status = {
      observedGeneration: ps.metadata.generation ?? 0,
      pods: wanted.length,
      readyPods,
      currentPods,
    };
    const had = ps.status;
    const same =
      had?.observedGeneration === status.observedGeneration &&
      had.pods === status.pods &&
      had.readyPods === status.readyPods &&
      had.currentPods === status.currentPods;
    if (!same) {
      await this.client.apply(
        {
          apiVersion: this.apiVersion,
          kind: "StrimziPodSet",
          metadata: { name: ps.metadata.name ?? "", namespace: this.namespace },
          status,
        },
        { ...fm, subresource: "status", force: true },
      );
    }
  }

  private async createPod(ps: PodSet, def: KubeObject): Promise<void> {
    const pod = structuredClone(def);
    pod.metadata.namespace = this.namespace;
    pod.metadata.ownerReferences = [
      {
        apiVersion: this.apiVersion,
        kind: "StrimziPodSet",
        name: ps.metadata.name ?? "",
        uid: ps.metadata.uid ?? "",
        controller: true,
        blockOwnerDeletion: false,
      },
    ];
    try {
      await this.client.create(pod);
      this.started.push(pod.metadata.name ?? "");
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 409) return;
      // Its ServiceAccount or PVCs may not be there yet: Strimzi's reconcile
      // fails and is tried again.
      this.log.debug(
        { cluster: this.cluster, pod: pod.metadata.name, err: describeError(err) },
        "pod not created yet",
      );
      throw err;
    }
  }

  /** The kubelet: the pod runs and its readiness probe passes. */
  private async markReady(p: Pod): Promise<void> {
    await this.client.apply(
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: p.metadata.name ?? "", namespace: this.namespace },
        status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
      },
      { ...fm, subresource: "status" },
    );
  }
}

/** Plays Strimzi in every remote cluster's namespace. */
export function playStrimzi(
  remotes: Map<string, DynamicClient>,
  namespace: string,
  log: Logger,
  opts: PlayerOptions = {},
): StrimziPlayer[] {
  return [...remotes].map(([name, client]) => {
    const p = new StrimziPlayer(name, client, namespace, log, opts);
    p.start();
    return p;
  });
}
