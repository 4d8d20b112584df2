/**
 * The provider: watches every managed-resource kind in the central cluster,
 * feeds their keys to one work queue served by the generic reconciler, and
 * re-queues a managed resource when its remote object changes (remote
 * watches) or its cluster's credentials do.
 */
import type { Logger } from "pino";
import { DynamicClient, type KubeObject } from "../kube/dynamic.ts";
import { Informer } from "../kube/informer.ts";
import { EventRecorder } from "../kube/events.ts";
import { defaultQueueOptions, WorkQueue, type QueueOptions } from "../runtime/workqueue.ts";
import { RemoteClients } from "./clients.ts";
import { kinds } from "./kinds.ts";
import {
  fieldManager,
  ManagedReconciler,
  type ReconcilerDeps,
  type SecretSource,
} from "./reconciler.ts";
import { RemoteCache } from "./remote-cache.ts";
import { Metrics } from "../metrics.ts";
import { groups, type ManagedResource, type RemoteObjectSet } from "../../apis/index.ts";
import { labels, objectName } from "../../apis/labels.ts";
import { ProviderConfigReconciler } from "./providerconfig.ts";
import { RollingRestart } from "./rolling-restart.ts";
import { CaSecretStore } from "./ca-store.ts";
import { logReissue, Pki } from "./pki.ts";
import { KafkaSupervisor, type KafkaSupervisorOptions } from "./kafka-supervisor.ts";
import { AccessReconciler } from "./access.ts";
import { RebalanceRequests } from "./rebalance-requests.ts";
import {
  entriesOf,
  entryKey,
  objectSetKind,
  ObjectSetReconciler,
  ownedByAnchorIn,
  queueKeyOf,
} from "./object-set.ts";

/**
 * RemoteSecret data: a copy of a central Secret (all keys or those listed),
 * the public certificates of a CA, or a node certificate minted by the PKI
 * (the observed remote Secret's certificate is kept while it is valid).
 */
export function secretSource(central: DynamicClient, pki: Pki, log: Logger): SecretSource {
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  return async (mr, observed) => {
    const f = mr.spec.forProvider;
    // The composite the managed resource was composed for owns the CAs it asks for.
    const owner = mr.metadata.ownerReferences?.find((o) => o.controller);
    if (f.secretRef) {
      const ref = f.secretRef;
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
        if (v === undefined)
          throw new Error(`Secret ${ref.namespace}/${ref.name} has no key "${k}"`);
        out[k] = v;
      }
      return out;
    }
    if (f.caCertificate) {
      const ca = f.caCertificate;
      return { [ca.key ?? "ca.crt"]: b64(await pki.bundle(ca.authority, ca.issuer, owner)) };
    }
    if (f.certificate) {
      const req = f.certificate;
      const keys = { certificate: "tls.crt", privateKey: "tls.key", ca: "ca.crt", ...req.keys };
      const have = (observed?.["data"] ?? {}) as Record<string, string>;
      const cert = have[keys.certificate];
      const key = have[keys.privateKey];
      const existing =
        cert && key
          ? {
              cert: Buffer.from(cert, "base64").toString("utf8"),
              key: Buffer.from(key, "base64").toString("utf8"),
            }
          : undefined;
      const issued = await pki.certificate(req, existing, owner);
      logReissue(log, issued, { mr: mr.metadata.name, commonName: req.commonName });
      return {
        [keys.certificate]: b64(issued.cert),
        [keys.privateKey]: b64(issued.key),
        [keys.ca]: b64(issued.ca),
      };
    }
    throw new Error("the RemoteSecret sets none of secretRef, certificate and caCertificate");
  };
}

interface Usage extends KubeObject {
  providerConfigRef: { name: string };
  resourceRef: { apiVersion: string; kind: string; name: string; uid?: string };
}

const providerConfigKey = (pc: string): string => `ProviderConfig/${pc}`;
const rollingRestartKey = (composite: string): string => `RollingRestart/${composite}`;

export class Provider {
  readonly clients: RemoteClients;
  private readonly remote: RemoteCache;
  private readonly informers = new Map<string, Informer<ManagedResource>>();
  /** RemoteObjectSets: several remote objects under one managed resource (ADR 0026). */
  private readonly sets: Informer<RemoteObjectSet>;
  private readonly usages: Informer<Usage>;
  /** KafkaTopics and KafkaUsers (all namespaces), when the provider asks Kafka. */
  private readonly access: Informer[] = [];
  private resync: NodeJS.Timeout | undefined;
  /** Whether each remote Node (`providerConfig/node`) was last seen cordoned. */
  private readonly cordons = new Map<string, boolean>();
  readonly queue: WorkQueue;
  /** Kafka's own view of each cluster (undefined when the provider does not ask Kafka). */
  readonly kafka: KafkaSupervisor | undefined;

  constructor(
    private readonly central: DynamicClient,
    private readonly log: Logger,
    queueOptions: QueueOptions = defaultQueueOptions,
    /** Where the CAs are kept in the central cluster. */
    namespace = "stretch-kafka-system",
    readonly metrics: Metrics = new Metrics(),
    /** How long a podset's pod may be missing before the podset is touched (default 10 s). */
    stallGraceMs?: number,
    /** The admin channel to each Kafka cluster (false: never ask Kafka, and no KafkaTopics or KafkaUsers). */
    kafka: KafkaSupervisorOptions | false = {},
    /** How often every KafkaTopic and KafkaUser is reconciled again (default 30 s). */
    private readonly accessResyncMs = 30_000,
  ) {
    const pki = new Pki(new CaSecretStore(central, namespace));
    const secrets = secretSource(central, pki, log.child({ part: "pki" }));
    const events = new EventRecorder(central, "provider-stretch-kafka", log);
    this.kafka =
      kafka === false
        ? undefined
        : new KafkaSupervisor(
            {
              pki,
              sources: () => this.managedOf("RemoteKafka").map((x) => x.mr),
              onChange: (composite) => {
                // A roll waiting on Kafka may go on.
                this.queue.add(rollingRestartKey(composite));
                for (const { mr, key } of this.managedOf("RemoteKafka")) {
                  if (mr.metadata.labels?.[labels.composite] === composite) this.queue.add(key);
                }
              },
              onRequest: (_composite, key) => {
                this.queue.add(`KafkaRebalance/${key}`);
              },
              metrics,
              events,
              log: log.child({ part: "kafka-admin" }),
            },
            kafka,
          );
    this.clients = new RemoteClients(central, log, (pc) => metrics.requestHook(pc));
    this.remote = new RemoteCache(
      log,
      (key) => {
        this.queue.add(queueKeyOf(key));
      },
      (pc) => {
        this.requeueProviderConfig(pc);
        this.queue.add(providerConfigKey(pc));
      },
      (pc) => {
        this.queue.add(providerConfigKey(pc));
      },
      (pc, obj) => {
        // A Node cordoned or uncordoned: every Kafka cluster with pods there
        // may have one to move (a drain, ADR 0023) or a release to withdraw.
        if (obj.kind === "Node") {
          const key = `${pc}/${obj.metadata.name ?? ""}`;
          const cordoned = (obj["spec"] as { unschedulable?: boolean } | undefined)?.unschedulable;
          if ((this.cordons.get(key) ?? false) === (cordoned ?? false)) return;
          this.cordons.set(key, cordoned ?? false);
          const composites = new Set(
            this.managedOf("RemoteStrimziPodSet")
              .map((x) => x.mr)
              .filter((ps) => ps.spec.providerConfigRef.name === pc)
              .map((ps) => ps.metadata.labels?.[labels.composite] ?? ""),
          );
          for (const c of composites) this.queue.add(rollingRestartKey(c));
          return;
        }
        // A pod or a podset changed: its Kafka cluster may roll on (a restart
        // waits for the podset to carry the new definition). Only that Kafka
        // cluster, not every one with podsets there.
        if (obj.kind !== "Pod" && obj.kind !== "StrimziPodSet") return;
        const composites = new Set<string>();
        for (const { mr: ps, key } of this.managedOf("RemoteStrimziPodSet")) {
          const m = ps.spec.forProvider.manifest;
          if (ps.spec.providerConfigRef.name !== pc) continue;
          if (m.metadata.namespace !== obj.metadata.namespace) continue;
          const pods = (m["spec"] as { pods?: KubeObject[] } | undefined)?.pods ?? [];
          const concerned =
            obj.kind === "Pod"
              ? pods.some((p) => p.metadata.name === obj.metadata.name)
              : m.metadata.name === obj.metadata.name;
          if (!concerned) continue;
          composites.add(ps.metadata.labels?.[labels.composite] ?? "");
          // Its readiness is the pods' readiness.
          if (obj.kind === "Pod") this.queue.add(key);
        }
        for (const c of composites) this.queue.add(rollingRestartKey(c));
      },
    );
    for (const k of kinds) {
      const informer = new Informer<ManagedResource>(
        central,
        { apiVersion: k.apiVersion, kind: k.kind },
        log,
      );
      informer.on((_event, mr) => {
        this.queue.add(`${k.kind}/${mr.metadata.name ?? ""}`);
        if (k.kind === "RemoteStrimziPodSet")
          this.queue.add(rollingRestartKey(mr.metadata.labels?.[labels.composite] ?? ""));
      });
      this.informers.set(k.kind, informer);
    }
    this.sets = new Informer<RemoteObjectSet>(central, objectSetKind, log);
    this.sets.on((_event, set) => {
      this.queue.add(`${objectSetKind.kind}/${set.metadata.name ?? ""}`);
      // A set that carries podsets: its Kafka cluster may roll on.
      if (set.spec.forProvider.objects.some((e) => e.kind === "RemoteStrimziPodSet"))
        this.queue.add(rollingRestartKey(set.metadata.labels?.[labels.composite] ?? ""));
    });
    this.usages = new Informer<Usage>(
      central,
      { apiVersion: groups.remote, kind: "ProviderConfigUsage" },
      log,
    );
    this.usages.on((_event, u) => {
      this.queue.add(providerConfigKey(u.providerConfigRef.name));
    });
    const usageName = (kind: string, name: string): string =>
      objectName([kind.toLowerCase(), name]);
    const providerConfigs = new ProviderConfigReconciler({
      central,
      clients: this.clients,
      health: (pc) => this.remote.health(pc),
      users: (pc) =>
        this.usages
          .list()
          .filter((u) => u.providerConfigRef.name === pc)
          .map((u) => `${u.resourceRef.kind}/${u.resourceRef.name}`)
          .sort(),
      now: () => new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      log,
    });
    const usage: ReconcilerDeps["usage"] = {
      ensure: async (kind, mr) => {
        const name = usageName(kind.kind, mr.metadata.name ?? "");
        if (this.usages.get(name)) return;
        await central.apply(
          {
            apiVersion: groups.remote,
            kind: "ProviderConfigUsage",
            metadata: {
              name,
              labels: { [labels.providerConfig]: mr.spec.providerConfigRef.name },
            },
            providerConfigRef: { name: mr.spec.providerConfigRef.name },
            resourceRef: {
              apiVersion: kind.apiVersion,
              kind: kind.kind,
              name: mr.metadata.name ?? "",
              uid: mr.metadata.uid ?? "",
            },
          },
          { fieldManager },
        );
      },
      release: async (kind, mr) => {
        await central.delete(
          groups.remote,
          "ProviderConfigUsage",
          usageName(kind.kind, mr.metadata.name ?? ""),
        );
      },
    };
    const reconciler = new ManagedReconciler({
      central,
      clients: this.clients,
      remote: this.remote,
      read: (kind, name) => this.informers.get(kind)?.get(name),
      hasSet: (name) => this.sets.get(name) !== undefined,
      ownedByAnchor: (pc, namespace, anchor, except) =>
        this.ownedByAnchor(pc, namespace, anchor, except),
      secrets,
      events,
      refused: (pc) => {
        providerConfigs.forget(pc);
        this.queue.add(providerConfigKey(pc));
      },
      usage,
      now: () => new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      ...(stallGraceMs !== undefined ? { stallGraceMs } : {}),
      kafkaLive: (composite) => {
        const live = this.kafka?.get(composite);
        const nodeDrain = rolling.nodeDrain(composite);
        return live && nodeDrain ? { ...live, nodeDrain } : live;
      },
      log,
    });
    const objectSets = new ObjectSetReconciler({
      central,
      clients: this.clients,
      usage,
      events,
      read: (name) => this.sets.get(name),
      objects: reconciler,
      now: () => new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      log,
    });
    const kafkaSupervisor = this.kafka;
    const access = kafkaSupervisor
      ? new AccessReconciler({
          central,
          pki,
          session: (composite) => kafkaSupervisor.session(composite),
          admin: (composite) => kafkaSupervisor.admin(composite),
          now: () => new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          log: log.child({ part: "access" }),
        })
      : undefined;
    const requests = kafkaSupervisor
      ? new RebalanceRequests({
          central,
          kafka: kafkaSupervisor,
          events,
          now: () => new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          log: log.child({ part: "rebalance" }),
        })
      : undefined;
    if (access) {
      for (const kind of ["KafkaTopic", "KafkaUser", "KafkaRebalance"]) {
        const informer = new Informer<KubeObject>(
          central,
          { apiVersion: groups.composite, kind },
          log,
        );
        informer.on((_event, o) => {
          this.queue.add(`${kind}/${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`);
        });
        this.access.push(informer);
      }
    }
    const rolling: RollingRestart = new RollingRestart({
      podSets: (composite) =>
        this.managedOf("RemoteStrimziPodSet")
          .map((x) => x.mr)
          .filter(
            (ps) =>
              (ps.metadata.labels?.[labels.composite] ?? "") === composite &&
              !ps.metadata.deletionTimestamp,
          ),
      clients: this.clients,
      remote: this.remote,
      events,
      log,
      ...(this.kafka ? { kafka: this.kafka } : {}),
      drainChanged: (composite) => {
        // Its RemoteKafka reports the drain (status.kafka.live.nodeDrain).
        for (const { mr, key } of this.managedOf("RemoteKafka"))
          if (mr.metadata.labels?.[labels.composite] === composite) this.queue.add(key);
      },
    });
    this.queue = new WorkQueue(
      (key) => {
        const [kind = "", ...rest] = key.split("/");
        const name = rest.join("/");
        if (kind === "ProviderConfig") return providerConfigs.reconcile(name);
        if (kind === "RollingRestart") return rolling.reconcile(name);
        if (kind === objectSetKind.kind) return objectSets.reconcile(name);
        if (access && (kind === "KafkaTopic" || kind === "KafkaUser")) {
          const [namespace = "", objectName = ""] = rest;
          return access.reconcile(kind, namespace, objectName);
        }
        if (requests && kind === "KafkaRebalance") {
          const [namespace = "", objectName = ""] = rest;
          return requests.reconcile(namespace, objectName);
        }
        return reconciler.reconcile(key);
      },
      queueOptions,
      undefined,
      {
        done: (key, ms, outcome, err) => {
          const kind = key.split("/")[0] ?? "";
          metrics.reconciles.inc({ kind, outcome });
          metrics.reconcileSeconds.observe({ kind }, ms / 1000);
          if (outcome === "error" || outcome === "terminal")
            log.warn({ mr: key, ms, outcome, err: String(err) }, "reconcile failed");
          else log.debug({ mr: key, ms, outcome }, "reconciled");
        },
      },
    );
    this.clients.onChange((pc) => {
      this.requeueProviderConfig(pc);
      this.queue.add(providerConfigKey(pc));
    });
  }

  /** Sets the gauges that describe the current state (called when metrics are scraped). */
  observeState(): void {
    const m = this.metrics;
    m.queueDepth.set(this.queue.depth);
    m.managedResources.reset();
    m.certificateExpiry.reset();
    for (const [kind, informer] of this.informers) {
      for (const mr of informer.list()) {
        const status = (type: string): string =>
          mr.status?.conditions?.find((c) => c.type === type)?.status ?? "Unknown";
        m.managedResources.inc({ kind, ready: status("Ready"), synced: status("Synced") });
        const notAfter = (
          mr.status?.atProvider as { certificate?: { notAfter?: string } } | undefined
        )?.certificate?.notAfter;
        if (kind === "RemoteSecret" && notAfter) {
          const manifest = mr.spec.forProvider.manifest;
          m.certificateExpiry.set(
            {
              cluster: mr.spec.providerConfigRef.name,
              namespace: manifest.metadata.namespace ?? "",
              secret: manifest.metadata.name ?? "",
            },
            Date.parse(notAfter) / 1000,
          );
        }
      }
    }
    for (const set of this.sets.list()) {
      const status = (type: string): string =>
        set.status?.conditions?.find((c) => c.type === type)?.status ?? "Unknown";
      m.managedResources.inc({
        kind: objectSetKind.kind,
        ready: status("Ready"),
        synced: status("Synced"),
      });
      // A set's certificates expire as a RemoteSecret's do.
      for (const o of set.status?.atProvider?.objects ?? []) {
        const notAfter = (o.atProvider as { certificate?: { notAfter?: string } } | undefined)
          ?.certificate?.notAfter;
        if (o.kind !== "RemoteSecret" || !notAfter) continue;
        m.certificateExpiry.set(
          {
            cluster: set.spec.providerConfigRef.name,
            namespace: o.remote.namespace,
            secret: o.remote.name,
          },
          Date.parse(notAfter) / 1000,
        );
      }
    }
    m.remoteClusterReady.reset();
    for (const pc of this.clients.providerConfigList()) {
      const ready = pc.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      m.remoteClusterReady.set({ cluster: pc.metadata.name ?? "" }, ready ? 1 : 0);
    }
  }

  /** Whether the central caches have listed (the provider can act). */
  get synced(): boolean {
    return [...this.informers.values(), this.sets].every((i) => i.health().synced);
  }

  /** Every managed resource of a cluster: its credentials changed, or it is back. */
  private requeueProviderConfig(pc: string): void {
    for (const [kind, informer] of this.informers) {
      for (const mr of informer.list()) {
        if (mr.spec.providerConfigRef.name === pc)
          this.queue.add(`${kind}/${mr.metadata.name ?? ""}`);
      }
    }
    for (const set of this.sets.list()) {
      if (set.spec.providerConfigRef.name === pc)
        this.queue.add(`${objectSetKind.kind}/${set.metadata.name ?? ""}`);
    }
  }

  /**
   * Managed resources of `kind`: those of their own and the entries of that
   * kind in RemoteObjectSets (ADR 0026), each with the work-queue key that
   * reconciles it.
   */
  private managedOf(kind: string): { mr: ManagedResource; key: string }[] {
    return [
      ...(this.informers.get(kind)?.list() ?? []).map((mr) => ({
        mr,
        key: `${kind}/${mr.metadata.name ?? ""}`,
      })),
      ...this.sets.list().flatMap((set) =>
        entriesOf(set, kind).map((mr) => ({
          mr,
          key: `${objectSetKind.kind}/${set.metadata.name ?? ""}`,
        })),
      ),
    ];
  }

  /** Keys of managed resources and set entries the anchor owns, except `except` (a key, or a set's key for all its entries). */
  private ownedByAnchor(pc: string, namespace: string, anchor: string, except: string): string[] {
    const out: string[] = [];
    const add = (key: string): void => {
      if (key !== except && !key.startsWith(`${except}/`)) out.push(key);
    };
    for (const [kind, informer] of this.informers) {
      for (const mr of informer.list()) {
        const f = mr.spec.forProvider;
        if (
          mr.spec.providerConfigRef.name === pc &&
          f.ownerAnchor?.name === anchor &&
          f.manifest.metadata.namespace === namespace
        ) {
          add(`${kind}/${mr.metadata.name ?? ""}`);
        }
      }
    }
    for (const set of this.sets.list()) {
      if (set.spec.providerConfigRef.name !== pc) continue;
      const remembered = set.status?.atProvider?.objects ?? [];
      for (const entry of ownedByAnchorIn(set, remembered, anchor, namespace))
        add(entryKey(set.metadata.name ?? "", entry));
    }
    return out;
  }

  async start(): Promise<void> {
    await this.clients.start();
    await Promise.all([...this.informers.values(), this.sets, this.usages].map((i) => i.start()));
    // Not waited for: an install whose CRDs lack KafkaTopic or KafkaUser still
    // reconciles everything else (the informer keeps retrying meanwhile).
    for (const i of this.access) void i.start();
    this.queue.start();
    this.kafka?.start();
    // Level-based: topics and users follow Kafka (status, changes behind their back).
    this.resync = setInterval(() => {
      for (const i of this.access)
        for (const o of i.list())
          this.queue.add(`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`);
    }, this.accessResyncMs);
    this.resync.unref();
    this.log.info({ kinds: kinds.length }, "provider started");
  }

  async stop(): Promise<void> {
    clearInterval(this.resync);
    await Promise.all(this.access.map((i) => i.stop()));
    await this.kafka?.stop();
    await this.queue.stop();
    await Promise.all([...this.informers.values(), this.sets, this.usages].map((i) => i.stop()));
    await this.remote.stop();
    await this.clients.stop();
  }
}
