/**
 * The provider: watches every managed-resource kind in the central cluster,
 * feeds their keys to one work queue served by the generic reconciler, and
 * re-queues a managed resource when its remote object changes (remote
 * watches) or its cluster's credentials do.
 */
import type { Logger } from "pino";
import { DynamicClient } from "../kube/dynamic.ts";
import { Informer } from "../kube/informer.ts";
import { defaultQueueOptions, WorkQueue, type QueueOptions } from "../runtime/workqueue.ts";
import { RemoteClients } from "./clients.ts";
import { kinds } from "./kinds.ts";
import { ManagedReconciler, type ManagedResource, type SecretSource } from "./reconciler.ts";
import { RemoteCache } from "./remote-cache.ts";

/** Copies a central Secret's keys (all, or those listed). */
export function copyCentralSecrets(central: DynamicClient): SecretSource {
  return async (mr) => {
    const ref = mr.spec.forProvider.secretRef;
    if (!ref) {
      throw new Error(
        "certificate minting is not available yet: this provider build copies central Secrets only (spec.forProvider.secretRef)",
      );
    }
    const secret = await central.get<ManagedResource & { data?: Record<string, string> }>(
      "v1",
      "Secret",
      ref.name,
      ref.namespace,
    );
    const data = secret.data ?? {};
    if (!ref.keys) return data;
    const out: Record<string, string> = {};
    for (const k of ref.keys) {
      const v = data[k];
      if (v === undefined) throw new Error(`Secret ${ref.namespace}/${ref.name} has no key "${k}"`);
      out[k] = v;
    }
    return out;
  };
}

export class Provider {
  readonly clients: RemoteClients;
  private readonly remote: RemoteCache;
  private readonly informers = new Map<string, Informer<ManagedResource>>();
  readonly queue: WorkQueue;

  constructor(
    private readonly central: DynamicClient,
    private readonly log: Logger,
    queueOptions: QueueOptions = defaultQueueOptions,
    secrets: SecretSource = copyCentralSecrets(central),
  ) {
    this.clients = new RemoteClients(central, log);
    this.remote = new RemoteCache(log, (key) => {
      this.queue.add(key);
    });
    for (const k of kinds) {
      const informer = new Informer<ManagedResource>(
        central,
        { apiVersion: k.apiVersion, kind: k.kind },
        log,
      );
      informer.on((_event, mr) => {
        this.queue.add(`${k.kind}/${mr.metadata.name ?? ""}`);
      });
      this.informers.set(k.kind, informer);
    }
    const reconciler = new ManagedReconciler({
      central,
      clients: this.clients,
      remote: this.remote,
      read: (kind, name) => this.informers.get(kind)?.get(name),
      ownedByAnchor: (pc, namespace, anchor, except) =>
        this.ownedByAnchor(pc, namespace, anchor, except),
      secrets,
      now: () => new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      log,
    });
    this.queue = new WorkQueue((key) => reconciler.reconcile(key), queueOptions, undefined, {
      done: (key, ms, outcome, err) => {
        if (outcome === "error" || outcome === "terminal")
          log.warn({ mr: key, ms, outcome, err: String(err) }, "reconcile failed");
        else log.debug({ mr: key, ms, outcome }, "reconciled");
      },
    });
    this.clients.onChange((pc) => {
      for (const [kind, informer] of this.informers) {
        for (const mr of informer.list()) {
          if (mr.spec.providerConfigRef.name === pc)
            this.queue.add(`${kind}/${mr.metadata.name ?? ""}`);
        }
      }
    });
  }

  private ownedByAnchor(pc: string, namespace: string, anchor: string, except: string): string[] {
    const out: string[] = [];
    for (const [kind, informer] of this.informers) {
      for (const mr of informer.list()) {
        const f = mr.spec.forProvider;
        if (
          mr.metadata.name !== except &&
          mr.spec.providerConfigRef.name === pc &&
          f.ownerAnchor?.name === anchor &&
          f.manifest.metadata.namespace === namespace
        ) {
          out.push(`${kind}/${mr.metadata.name ?? ""}`);
        }
      }
    }
    return out;
  }

  async start(): Promise<void> {
    await this.clients.start();
    await Promise.all([...this.informers.values()].map((i) => i.start()));
    this.queue.start();
    this.log.info({ kinds: kinds.length }, "provider started");
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    await this.remote.stop();
    await this.clients.stop();
  }
}
