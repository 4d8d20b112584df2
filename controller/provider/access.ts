/**
 * KafkaTopics and KafkaUsers: objects app teams own in the namespace of their
 * StretchKafka claim, reconciled by the provider over its Kafka admin channel
 * (docs/adr/0013). Each names its claim (`spec.kafkaRef`, same namespace
 * only); the claim's composite names the Kafka cluster the provider already
 * asks (KafkaSupervisor). Level-based: every object is reconciled again every
 * `resyncMs`, so its status follows Kafka (under-replicated partitions) and a
 * change made behind its back is undone.
 *
 * Topics: created with replicas placed one per Kubernetes cluster
 * (controller/kafka/topics.ts); a topic of the same name that this object did
 * not create is taken over only with `spec.adopt`; configuration applied
 * incrementally; partitions added, never removed (refused, nothing changed);
 * a change of replicas moved by reassignment; deleted with the object unless
 * `deletionPolicy: Orphan`.
 *
 * Users: credentials in a Secret of the user's name in its namespace, owned
 * by the KafkaUser (so it goes with it): tls, a certificate of the claim's
 * clients CA (the CA key never leaves the central cluster) with a PKCS#12
 * keystore, renewed before expiry; scram-sha-512, a password (generated, or
 * the one the user names) whose salted form is set in Kafka. ACLs made
 * exactly equal to the object's, quotas set; all removed with the object.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import forge from "node-forge";
import {
  groups,
  labels,
  type KafkaAdmin,
  type KafkaTopic,
  type KafkaTopicSpec,
  type KafkaUser,
} from "../../apis/index.ts";
import {
  claimReplication,
  configInteger,
  replicationDefaults,
  survivesClusterLoss,
} from "../../apis/kafka-rules.ts";
import type { AdminSession, KafkaView } from "../kafka/admin.ts";
import { kafkaReason } from "../kafka/admin.ts";
import { aclChanges, digest, scramCredential, username, wantedAcls } from "../kafka/acls.ts";
import { configChanges, planTopic, type BrokersByCluster } from "../kafka/topics.ts";
import type { DynamicClient, KubeObject, KubeResource } from "../kube/dynamic.ts";
import { fieldManagers } from "../field-managers.ts";
import {
  claimOf,
  cond,
  gone,
  Waiting,
  writeObjectStatus,
  type Claim,
  type Cond,
} from "./claim-objects.ts";
import { logReissue, type Pki } from "./pki.ts";

const topicFinalizer = "stretchkafka.dev/kafka-topic";
const userFinalizer = "stretchkafka.dev/kafka-user";

interface Secret extends KubeObject {
  data?: Record<string, string>;
}

export interface AccessDeps {
  central: DynamicClient;
  pki: Pki;
  /** A session on a composite's Kafka (KafkaSupervisor.session). */
  session: (composite: string) => Promise<AdminSession>;
  /** How the function described the composite's Kafka (its nodes). */
  admin: (composite: string) => KafkaAdmin | undefined;
  now: () => string;
  log: Logger;
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined): string | undefined =>
  s === undefined ? undefined : Buffer.from(s, "base64").toString("utf8");

export class AccessReconciler {
  /** What was last told to Kafka per user (SCRAM credential, quotas), to tell it again only on a change. */
  private readonly told = new Map<string, string>();

  constructor(private readonly deps: AccessDeps) {}

  /** key: `KafkaTopic/<namespace>/<name>` or `KafkaUser/<namespace>/<name>`. */
  async reconcile(
    kind: "KafkaTopic" | "KafkaUser",
    namespace: string,
    name: string,
  ): Promise<void> {
    const obj = await this.deps.central.find<KafkaTopic | KafkaUser>(
      groups.composite,
      kind,
      name,
      namespace,
    );
    if (!obj) return;
    if (kind === "KafkaTopic") await this.topic(obj as KafkaTopic);
    else await this.user(obj as KafkaUser);
  }

  private claimOf(obj: KafkaTopic | KafkaUser): ReturnType<typeof claimOf> {
    return claimOf(this.deps, obj);
  }

  private writeStatus(
    obj: KafkaTopic | KafkaUser,
    fields: Record<string, unknown>,
    conditions: Cond[],
  ): Promise<void> {
    return writeObjectStatus(this.deps, obj, fields, conditions);
  }

  private async withFinalizer(obj: KubeResource, finalizer: string): Promise<void> {
    const have = obj.metadata.finalizers ?? [];
    if (!have.includes(finalizer)) await this.setFinalizers(obj, [...have, finalizer]);
  }

  private async release(obj: KubeResource, finalizer: string): Promise<void> {
    await this.setFinalizers(
      obj,
      (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer),
    );
  }

  /** Finalizers by merge patch, refused (409) if the object changed since it was read. */
  private async setFinalizers(obj: KubeResource, finalizers: string[]): Promise<void> {
    await this.deps.central.mergePatch(
      obj.apiVersion,
      obj.kind,
      obj.metadata.name ?? "",
      obj.metadata.namespace,
      { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } },
    );
  }

  // ---- topics ----

  private async topic(t: KafkaTopic): Promise<void> {
    const name = t.spec.topicName ?? t.metadata.name ?? "";
    if (t.metadata.deletionTimestamp) {
      if (!(t.metadata.finalizers ?? []).includes(topicFinalizer)) return;
      if ((t.spec.deletionPolicy ?? "Delete") === "Delete" && t.status?.topicId) {
        const found = await this.claimOf(t).catch(gone);
        if (found && !found.claim.metadata.deletionTimestamp)
          await this.withSession(found.composite, (s) => s.access.deleteTopic(name));
      }
      await this.release(t, topicFinalizer);
      return;
    }
    await this.withFinalizer(t, topicFinalizer);
    try {
      const { claim, composite, admin } = await this.claimOf(t);
      await this.withSession(composite, async (session) => {
        const view = await session.view();
        await this.applyTopic(t, name, claim, admin, session, view);
      });
    } catch (err) {
      await this.failed(t, { ...(t.status ?? {}), topicName: name }, err);
    }
  }

  /**
   * Says in the status why nothing more could be done: waiting (no claim, no
   * Kafka to ask), or Kafka refused a request (Synced False with Kafka's
   * words; retried with backoff).
   */
  private async failed(
    obj: KafkaTopic | KafkaUser,
    fields: Record<string, unknown>,
    err: unknown,
  ): Promise<void> {
    const { conditions: _old, observedGeneration: _gen, ...kept } = fields;
    fields = kept;
    if (err instanceof Waiting) {
      await this.writeStatus(obj, fields, [cond("Ready", false, err.reason, err.message)]);
      return;
    }
    const why = `Kafka refused: ${kafkaReason(err)}`;
    await this.writeStatus(obj, fields, [
      cond("Synced", false, "KafkaRefused", why),
      cond("Ready", false, "KafkaRefused", why),
    ]);
    throw err;
  }

  private async applyTopic(
    t: KafkaTopic,
    name: string,
    claim: Claim,
    admin: KafkaAdmin,
    session: AdminSession,
    view: KafkaView,
  ): Promise<void> {
    const brokers = brokersByCluster(admin, view);
    const clusterOf = new Map(admin.nodes.map((n) => [n.id, n.cluster]));
    const brokerNodes = admin.nodes.filter((n) => n.roles.includes("broker"));
    const defaults = replicationDefaults(brokerNodes);
    const claimRepl = claimReplication(claim.spec.kafka?.config, brokerNodes);
    const replicas =
      t.spec.replicas ?? orDefault(claimRepl.replicationFactor, defaults.replicationFactor);
    const config = stringConfig(t.spec);
    const minIsr = orDefault(
      configInteger(config["min.insync.replicas"]) ?? claimRepl.minInSyncReplicas,
      defaults.minInSyncReplicas,
    );
    const found = view.topics.find((x) => x.name === name);
    const status = t.status ?? {};
    const refused: string[] = [];
    if (minIsr > replicas)
      refused.push(
        `spec.config["min.insync.replicas"]: ${minIsr} is more than the ${replicas} replicas: no write could ever succeed`,
      );
    const ours =
      status.topicId !== undefined ||
      t.spec.adopt === true ||
      status.conditions?.some((c) => c.type === "Ready" && c.reason === "Creating") === true;
    if (found && !ours)
      refused.push(
        `a topic named ${name} exists in Kafka and was not created by this KafkaTopic; set spec.adopt: true to manage it (its data stays)`,
      );
    const moving = new Set(
      view.reassigning.filter((r) => r.topic === name).map((r) => r.partition),
    );
    const plan = planTopic(
      { name, partitions: t.spec.partitions ?? 1, replicas, config },
      found,
      brokers,
      moving,
    );
    refused.push(...plan.refused);
    const atRisk = !survivesClusterLoss(brokerNodes, replicas, minIsr);
    const risk = cond(
      "DataAtRisk",
      atRisk,
      atRisk ? "ReplicasDoNotSurviveClusterLoss" : "SurvivesClusterLoss",
      atRisk
        ? `replicas ${replicas} with min.insync.replicas ${minIsr} can lose acknowledged writes when one Kubernetes cluster is lost; use ${defaults.replicationFactor}/${defaults.minInSyncReplicas}`
        : `every partition keeps an acknowledged write after losing any one Kubernetes cluster (replicas ${replicas}, min.insync.replicas ${minIsr})`,
    );
    if (refused.length > 0) {
      await this.writeStatus(t, topicStatus(name, status.topicId, found, clusterOf), [
        cond("Synced", false, "Refused", `${refused.join("; ")}; nothing was changed`),
        cond("Ready", false, "Refused", refused.join("; ")),
        risk,
      ]);
      return;
    }
    let topicId = status.topicId;
    if (plan.create) {
      await this.writeStatus(t, { topicName: name }, [
        cond(
          "Ready",
          false,
          "Creating",
          `creating ${name} with ${replicas} replicas per partition`,
        ),
      ]);
      topicId = await session.access.createTopic(name, plan.create, config);
      this.deps.log.info({ topic: name, kafkaTopic: t.metadata.name }, "created a topic");
    } else {
      topicId ??= found?.id;
      const changes = configChanges(config, await session.access.topicConfig(name));
      if (Object.keys(changes).length > 0)
        await session.alterConfigs([{ resource: "topic", name, configs: changes }]);
      if (plan.addPartitions)
        await session.access.addPartitions(
          name,
          plan.addPartitions.count,
          plan.addPartitions.assignments,
        );
      await session.reassign(plan.moves);
    }
    const after = plan.create || plan.addPartitions ? undefined : found;
    const settled =
      after !== undefined &&
      plan.moves.length === 0 &&
      moving.size === 0 &&
      after.partitions.every((p) => p.replicas.length === replicas);
    await this.writeStatus(t, topicStatus(name, topicId, after ?? found, clusterOf), [
      cond("Synced", true, "ReconcileSuccess", "Kafka has what the KafkaTopic asks"),
      settled
        ? cond(
            "Ready",
            true,
            "Available",
            `${name}: ${after.partitions.length} partitions, ${replicas} replicas each`,
          )
        : cond(
            "Ready",
            false,
            plan.moves.length > 0 || moving.size > 0 ? "Reassigning" : "Updating",
            plan.moves.length > 0 || moving.size > 0
              ? `moving replicas to ${replicas} per partition`
              : "Kafka is applying the change",
          ),
      risk,
    ]);
  }

  // ---- users ----

  private async user(u: KafkaUser): Promise<void> {
    const key = `${u.metadata.namespace ?? ""}/${u.metadata.name ?? ""}`;
    const type = u.spec.authentication.type;
    const principal = `User:${username(u.metadata.name ?? "", type)}`;
    if (u.metadata.deletionTimestamp) {
      if (!(u.metadata.finalizers ?? []).includes(userFinalizer)) return;
      const found = await this.claimOf(u).catch(gone);
      if (found && !found.claim.metadata.deletionTimestamp) {
        await this.withSession(found.composite, async (s) => {
          if (type === "scram-sha-512") await s.access.deleteScramSha512(u.metadata.name ?? "");
          if (found.claim.spec.kafka?.authorization)
            await s.access.deleteAcls(await s.access.acls(principal));
          await s.access.setQuotas(username(u.metadata.name ?? "", type), noQuotas);
        });
      }
      this.told.delete(key);
      await this.release(u, userFinalizer);
      return;
    }
    await this.withFinalizer(u, userFinalizer);
    try {
      const { claim, composite } = await this.claimOf(u);
      const listenerProblem = listenerFor(claim, type);
      const secret = await this.credentials(u, composite);
      const out = await this.withSession(composite, async (session) => {
        let acls = 0;
        const name = u.metadata.name ?? "";
        if (type === "scram-sha-512") {
          const password = secret.password ?? "";
          const told = digest({ composite, password });
          if (this.told.get(`${key}/scram`) !== told) {
            const c = scramCredential(password);
            await session.access.setScramSha512(name, c.salt, c.iterations, c.saltedPassword);
            this.told.set(`${key}/scram`, told);
          }
        }
        if (claim.spec.kafka?.authorization) {
          const wanted = wantedAcls(principal, u.spec.authorization?.acls ?? []);
          const changes = aclChanges(wanted, await session.access.acls(principal));
          await session.access.deleteAcls(changes.remove);
          await session.access.createAcls(changes.create);
          acls = wanted.length;
        }
        const quotas = quotasOf(u);
        const toldQuotas = digest({ composite, quotas });
        if (this.told.get(`${key}/quotas`) !== toldQuotas) {
          await session.access.setQuotas(username(name, type), quotas);
          this.told.set(`${key}/quotas`, toldQuotas);
        }
        return { acls };
      });
      const authzMissing =
        (u.spec.authorization?.acls?.length ?? 0) > 0 && !claim.spec.kafka?.authorization;
      const problem =
        listenerProblem ??
        (authzMissing
          ? "the ACLs have no effect: the StretchKafka has no spec.kafka.authorization (type simple)"
          : undefined);
      await this.writeStatus(
        u,
        {
          username: username(u.metadata.name ?? "", type),
          secret: u.metadata.name,
          ...(secret.notAfter ? { notAfter: secret.notAfter } : {}),
          acls: out.acls,
        },
        [
          cond(
            "Synced",
            true,
            "ReconcileSuccess",
            "Kafka has the user's credentials, ACLs and quotas",
          ),
          problem
            ? cond("Ready", false, "NotUsable", problem)
            : cond(
                "Ready",
                true,
                "Available",
                `principal User:${username(u.metadata.name ?? "", type)}`,
              ),
        ],
      );
    } catch (err) {
      await this.failed(u, { ...(u.status ?? {}) }, err);
    }
  }

  /**
   * The user's Secret, written when its content changes: tls, the
   * certificate (kept while valid, renewed before expiry) and a PKCS#12
   * keystore; scram-sha-512, the password and a JAAS line.
   */
  private async credentials(
    u: KafkaUser,
    composite: string,
  ): Promise<{ password?: string; notAfter?: string }> {
    const name = u.metadata.name ?? "";
    const ns = u.metadata.namespace ?? "";
    const existing = await this.deps.central.find<Secret>("v1", "Secret", name, ns);
    const have = existing?.data ?? {};
    const data: Record<string, string> = {};
    let out: { password?: string; notAfter?: string };
    if (u.spec.authentication.type === "tls") {
      const cert = unb64(have["user.crt"]);
      const key = unb64(have["user.key"]);
      const issued = await this.deps.pki.certificate(
        {
          authority: composite,
          issuer: "ClientsCA",
          commonName: name,
          usages: ["client"],
          validityDays: 365,
          renewBeforeDays: 30,
        },
        cert && key ? { cert, key } : undefined,
        undefined,
        true,
      );
      logReissue(this.deps.log, issued, { user: `${ns}/${name}` });
      const password =
        issued.cert === cert && have["user.password"]
          ? (unb64(have["user.password"]) ?? "")
          : randomBytes(18).toString("base64url");
      data["ca.crt"] = b64(issued.ca);
      data["user.crt"] = b64(issued.cert);
      data["user.key"] = b64(issued.key);
      data["user.password"] = b64(password);
      data["user.p12"] =
        issued.cert === cert && have["user.p12"]
          ? have["user.p12"]
          : pkcs12(issued, name, password);
      out = { notAfter: forge.pki.certificateFromPem(issued.cert).validity.notAfter.toISOString() };
    } else {
      const ref = u.spec.authentication.password?.valueFrom.secretKeyRef;
      let password: string | undefined;
      if (ref) {
        const given = await this.deps.central.find<Secret>("v1", "Secret", ref.name, ns);
        password = unb64(given?.data?.[ref.key]);
        if (!password)
          throw new Waiting(
            "PasswordNotFound",
            `spec.authentication.password: Secret ${ns}/${ref.name} has no key ${ref.key}`,
          );
      } else {
        password = unb64(have["password"]) ?? randomBytes(24).toString("base64url");
      }
      data["password"] = b64(password);
      data["sasl.jaas.config"] = b64(
        `org.apache.kafka.common.security.scram.ScramLoginModule required username="${name}" password="${jaasQuoted(password)}";`,
      );
      out = { password };
    }
    // The API server hands data back with its keys sorted.
    const sorted = (d: Record<string, string>): string =>
      JSON.stringify(
        Object.keys(d)
          .sort()
          .map((k) => [k, d[k]]),
      );
    if (!existing || sorted(data) !== sorted(have)) {
      await this.deps.central.apply(
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: {
            name,
            namespace: ns,
            labels: {
              [labels.kafkaUser]: name,
              [labels.kafka]: u.spec.kafkaRef.name,
            },
            ownerReferences: [
              {
                apiVersion: u.apiVersion,
                kind: u.kind,
                name,
                uid: u.metadata.uid ?? "",
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          },
          type: "Opaque",
          data,
        },
        { fieldManager: fieldManagers.provider, force: true },
      );
    }
    return out;
  }

  private async withSession<T>(composite: string, fn: (s: AdminSession) => Promise<T>): Promise<T> {
    const session = await this.deps.session(composite).catch((err: unknown) => {
      throw new Waiting("KafkaUnreachable", `Kafka could not be asked: ${kafkaReason(err)}`);
    });
    try {
      return await fn(session);
    } finally {
      await session.close();
    }
  }
}

/** A value inside a JAAS line's double quotes (Kafka's parser takes backslash escapes there). */
function jaasQuoted(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}

/** Deleting: a claim that is gone, going or not running has nothing left to clean up in Kafka. */

const noQuotas = {
  producer_byte_rate: undefined,
  consumer_byte_rate: undefined,
  request_percentage: undefined,
  controller_mutation_rate: undefined,
};

function quotasOf(u: KafkaUser): Record<keyof typeof noQuotas, number | undefined> {
  const q = u.spec.quotas ?? {};
  return {
    producer_byte_rate: q.producerByteRate,
    consumer_byte_rate: q.consumerByteRate,
    request_percentage: q.requestPercentage,
    controller_mutation_rate: q.controllerMutationRate,
  };
}

/** Why the claim's listeners do not let this user log in, if they do not. */
function listenerFor(claim: Claim, type: "tls" | "scram-sha-512"): string | undefined {
  const l = claim.spec.kafka?.listeners;
  const tls = l?.tls?.enabled !== false ? l?.tls?.authentication?.type : undefined;
  const plain = l?.plain?.enabled !== false ? l?.plain?.authentication?.type : undefined;
  const external = l?.external?.authentication?.type;
  const takes = (t: string): boolean => tls === t || plain === t || external === t;
  if (type === "tls" && !takes("tls"))
    return "no listener of the StretchKafka asks for client certificates: set spec.kafka.listeners.tls (or external).authentication.type to tls";
  if (type === "scram-sha-512" && !takes("scram-sha-512"))
    return "no listener of the StretchKafka takes SCRAM-SHA-512: set spec.kafka.listeners.tls, plain or external .authentication.type to scram-sha-512";
  return undefined;
}

/** The user's key and certificate as a PKCS#12 keystore (what Java clients load), base64. */
function pkcs12(issued: { cert: string; key: string }, name: string, password: string): string {
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    forge.pki.privateKeyFromPem(issued.key),
    [forge.pki.certificateFromPem(issued.cert)],
    password,
    { algorithm: "3des", friendlyName: name },
  );
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), "binary").toString("base64");
}

/** Brokers that can take replicas now: registered, unfenced, of this claim, by cluster. */
function brokersByCluster(admin: KafkaAdmin, view: KafkaView): BrokersByCluster {
  const out: BrokersByCluster = new Map();
  const up = new Set(view.brokers.filter((b) => !b.fenced).map((b) => b.id));
  for (const n of admin.nodes) {
    if (!n.roles.includes("broker") || !up.has(n.id)) continue;
    out.set(n.cluster, [...(out.get(n.cluster) ?? []), n.id]);
  }
  return out;
}

/** A claim's value that is not a positive integer (NaN; the function refuses such a claim) falls back to the default. */
function orDefault(n: number, fallback: number): number {
  return Number.isNaN(n) ? fallback : n;
}

function stringConfig(spec: KafkaTopicSpec): Record<string, string> {
  return Object.fromEntries(
    Object.entries((spec.config ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
  );
}

function topicStatus(
  name: string,
  topicId: string | undefined,
  found: { partitions: { replicas: number[]; isr: number[] }[] } | undefined,
  clusterOf: Map<number, string>,
): Record<string, unknown> {
  if (!found) return { topicName: name, ...(topicId ? { topicId } : {}) };
  const replicas = Math.min(...found.partitions.map((p) => p.replicas.length));
  return {
    topicName: name,
    ...(topicId ? { topicId } : {}),
    partitions: found.partitions.length,
    replicas,
    underReplicated: found.partitions.filter((p) => p.isr.length < p.replicas.length).length,
    clusters: [
      ...new Set(found.partitions.flatMap((p) => p.replicas.map((id) => clusterOf.get(id) ?? "?"))),
    ].sort(),
  };
}
