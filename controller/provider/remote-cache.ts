/**
 * Informers on the remote clusters, one per ProviderConfig, namespace and
 * kind, limited to our objects by label. A remote change re-queues the
 * managed resource named in the object's annotation; reconciles read remote
 * objects from here, so a steady state costs one watch per kind and nothing
 * else. Informers are made lazily and remade when a cluster's client changes
 * (rotated credentials).
 */
import type { Logger } from "pino";
import type { KubeObject } from "../kube/dynamic.ts";
import { Informer, type InformerHealth } from "../kube/informer.ts";
import { annotations, managedByLabel } from "./desired.ts";
import type { RemoteClient } from "./clients.ts";

/** What the provider knows of a remote cluster's Node. */
export type NodeState =
  | { readable: true; cordoned: boolean }
  /** Nodes cannot be read there (no grant, the cluster unreachable): why. */
  | { readable: false; why: string };

interface Entry {
  informer: Informer;
  fingerprint: string;
  started: Promise<void>;
}

export class RemoteCache {
  private readonly informers = new Map<string, Entry>();
  /**
   * The cordoned Nodes of each cluster (cluster-scoped, unlabelled, selected
   * by `spec.unschedulable=true`, so that a cluster of thousands of nodes
   * costs what it has cordoned): apart from the rest, so that a cluster whose
   * registration grants no Node read is not taken for unreachable.
   */
  private readonly nodeInformers = new Map<string, Entry>();

  constructor(
    private readonly log: Logger,
    /** Called with the managed-resource key a remote object names. */
    private readonly requeue: (mrKey: string) => void,
    /** Called when a cluster's informer has listed again (e.g. after an outage). */
    private readonly relisted: (providerConfig: string) => void = () => {},
    /** Called when a cluster's watch fails. */
    private readonly disconnected: (providerConfig: string) => void = () => {},
    /** Called for every change of a watched remote object. */
    private readonly changed: (providerConfig: string, obj: KubeObject) => void = () => {},
  ) {}

  private informer(
    pc: string,
    remote: RemoteClient,
    namespace: string,
    apiVersion: string,
    kind: string,
  ): Entry {
    const key = `${pc}|${namespace}|${apiVersion}|${kind}`;
    const existing = this.informers.get(key);
    if (existing && existing.fingerprint === remote.fingerprint) return existing;
    if (existing) void existing.informer.stop();
    const informer = new Informer(
      remote.client,
      {
        apiVersion,
        kind,
        namespace,
        labelSelector: managedByLabel,
        minBackoffMs: 1000,
        maxBackoffMs: 30_000,
      },
      this.log.child({ providerConfig: pc }),
    );
    informer.on((_event, obj) => {
      const mr = obj.metadata.annotations?.[annotations.managedResource];
      if (mr) this.requeue(mr);
      this.changed(pc, obj);
    });
    let lists = 0;
    informer.onRelist(() => {
      // The first list is the informer starting; later ones follow an outage or expiry.
      if (lists++ > 0) this.relisted(pc);
    });
    informer.onDisconnect(() => {
      this.disconnected(pc);
    });
    const entry = { informer, fingerprint: remote.fingerprint, started: informer.start() };
    this.informers.set(key, entry);
    return entry;
  }

  /**
   * Whether a node of a remote cluster is cordoned (`spec.unschedulable`),
   * from a watch of that cluster's cordoned Nodes; waits at most `waitMs` for
   * its first list. Told to `changed` as a Node whose `spec.unschedulable`
   * says whether it is cordoned now.
   */
  async node(pc: string, remote: RemoteClient, name: string, waitMs = 2000): Promise<NodeState> {
    let entry = this.nodeInformers.get(pc);
    if (!entry || entry.fingerprint !== remote.fingerprint) {
      if (entry) void entry.informer.stop();
      const informer = new Informer(
        remote.client,
        {
          apiVersion: "v1",
          kind: "Node",
          fieldSelector: "spec.unschedulable=true",
          minBackoffMs: 1000,
          maxBackoffMs: 60_000,
        },
        this.log.child({ providerConfig: pc }),
      );
      informer.on((event, obj) => {
        // Out of the selection (uncordoned, or gone): not cordoned any more,
        // whatever the last copy seen says.
        const spec = { ...(obj["spec"] as object | undefined), unschedulable: event !== "delete" };
        this.changed(pc, { ...obj, spec });
      });
      entry = { informer, fingerprint: remote.fingerprint, started: informer.start() };
      this.nodeInformers.set(pc, entry);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([entry.started, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    const health = entry.informer.health();
    if (!health.synced || !health.connected)
      return { readable: false, why: health.lastError ?? "Nodes not listed yet" };
    return { readable: true, cordoned: entry.informer.get(name) !== undefined };
  }

  /**
   * The remote object as last seen, once the informer has listed; waits at most
   * `waitMs` for a first list (an unreachable cluster must not hold a worker).
   */
  async get(
    pc: string,
    remote: RemoteClient,
    ref: { apiVersion: string; kind: string; namespace: string; name: string },
    waitMs = 5000,
  ): Promise<
    { synced: true; object: KubeObject | undefined } | { synced: false; health: InformerHealth }
  > {
    const entry = this.informer(pc, remote, ref.namespace, ref.apiVersion, ref.kind);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([entry.started, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    const health = entry.informer.health();
    // A cache whose watch is down is stale: the cluster counts as unreachable.
    if (!health.synced || !health.connected) return { synced: false, health };
    return { synced: true, object: entry.informer.get(`${ref.namespace}/${ref.name}`) };
  }

  /** Whether the informers of a ProviderConfig currently reach their cluster. */
  health(pc: string): InformerHealth | undefined {
    let worst: InformerHealth | undefined;
    for (const [key, e] of this.informers) {
      if (!key.startsWith(`${pc}|`)) continue;
      const h = e.informer.health();
      if (!worst || (!h.connected && worst.connected)) worst = h;
    }
    return worst;
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.informers.values(), ...this.nodeInformers.values()].map((e) => e.informer.stop()),
    );
    this.informers.clear();
    this.nodeInformers.clear();
  }
}
