/**
 * The one simulated part of the sandbox: it plays a remote cluster's Strimzi
 * StrimziPodSet controller and kubelet, which a bare API server lacks. For
 * each podset it creates the pods its spec lists (owned by the podset, as
 * Strimzi does), marks them Ready, deletes pods the podset no longer lists,
 * and writes the podset's status. Like stock Strimzi, it never restarts a pod
 * whose revision changed: the provider's rolling restart deletes it, and it is
 * then created again from the new definition.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { KubeApiError, type DynamicClient, type KubeObject } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import { Informer } from "../kube/informer.ts";

interface PodSet extends KubeObject {
  spec: { pods?: KubeObject[] };
}

interface Pod extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

const fm = { fieldManager: "strimzi-player" };
const revision = (o: KubeObject): string => o.metadata.annotations?.["strimzi.io/revision"] ?? "";
const ready = (p: Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

export class StrimziPlayer {
  private readonly podSets: Informer<PodSet>;
  private readonly pods: Informer<Pod>;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private dirty = true;
  /** Pods started, by name: what a test counts as restarts. */
  readonly started: string[] = [];

  constructor(
    private readonly cluster: string,
    private readonly client: DynamicClient,
    private readonly namespace: string,
    private readonly log: Logger,
    private readonly apiVersion = "core.strimzi.io/v1",
  ) {
    // Watches, as the real operator: a pass runs when something changed.
    this.podSets = new Informer<PodSet>(
      client,
      { apiVersion, kind: "StrimziPodSet", namespace },
      log,
    );
    this.pods = new Informer<Pod>(client, { apiVersion: "v1", kind: "Pod", namespace }, log);
    for (const i of [this.podSets, this.pods] as Informer[]) {
      i.on(() => {
        this.dirty = true;
        this.wake?.();
      });
    }
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all([this.podSets.stop(), this.pods.stop()]);
  }

  private async run(): Promise<void> {
    await Promise.all([this.podSets.start(), this.pods.start()]);
    while (this.running) {
      if (this.dirty) {
        this.dirty = false;
        try {
          await this.once();
        } catch (err) {
          // An unreachable cluster is one that Strimzi cannot act in either.
          this.dirty = true;
          this.log.debug({ cluster: this.cluster, err: describeError(err) }, "strimzi player");
        }
      }
      // Until something changes (or a second passes: retries of what failed).
      await Promise.race([
        new Promise<void>((resolve) => (this.wake = resolve)),
        sleep(this.dirty ? 300 : 1000),
      ]);
      await sleep(50);
    }
  }

  /** One pass over every podset of the namespace, from the watch caches. */
  async once(): Promise<void> {
    const pods = new Map(this.pods.list().map((p) => [p.metadata.name ?? "", p]));
    for (const ps of this.podSets.list()) {
      const wanted = (ps.spec.pods ?? []).filter((p) => p.metadata.name);
      const names = new Set(wanted.map((p) => p.metadata.name ?? ""));
      let readyPods = 0;
      let currentPods = 0;
      for (const def of wanted) {
        const name = def.metadata.name ?? "";
        const pod = pods.get(name);
        if (!pod) {
          await this.createPod(ps, def);
          continue;
        }
        if (!ready(pod)) await this.markReady(name);
        else readyPods++;
        if (revision(pod) === revision(def)) currentPods++;
      }
      for (const [name, pod] of pods) {
        const owner = pod.metadata.ownerReferences?.find((r) => r.kind === "StrimziPodSet");
        if (owner?.name === ps.metadata.name && !names.has(name)) {
          await this.client.delete("v1", "Pod", name, this.namespace);
        }
      }
      const status = {
        observedGeneration: ps.metadata.generation ?? 0,
        pods: wanted.length,
        readyPods,
        currentPods,
      };
      const had = (ps as { status?: Partial<typeof status> }).status;
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
          { ...fm, subresource: "status" },
        );
      }
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
      // Its ServiceAccount or PVCs may not be there yet: next pass.
      if (!(err instanceof KubeApiError) || err.code === 409) return;
      this.log.debug(
        { cluster: this.cluster, pod: pod.metadata.name, err: describeError(err) },
        "pod not created yet",
      );
    }
  }

  private async markReady(name: string): Promise<void> {
    await this.client.apply(
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: this.namespace },
        status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
      },
      { ...fm, subresource: "status" },
    );
  }
}
