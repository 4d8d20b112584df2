/**
 * Topics, users and access as objects app teams own, on real Kafka through
 * the whole path (claim -> function -> provider -> remote clusters -> Kafka),
 * reconciled by the provider over its admin channel: a KafkaTopic placed one
 * replica per Kubernetes cluster, its configuration changed, partitions added
 * and a decrease refused, an existing topic adopted only when asked, deleted
 * or orphaned; authorization and client authentication turned on on the
 * running cluster (each a Kafka-aware roll, the plain-listener producer
 * running throughout); a TLS user and a SCRAM user produce where their ACLs
 * allow and are refused (by Kafka) where not, an ACL removed from the object
 * leaves Kafka, a renewed certificate keeps a running client producing, and
 * losing a whole Kubernetes cluster while a SCRAM user produces with
 * acks=all loses nothing.
 *
 * The plain listener stays unauthenticated, its principal ANONYMOUS made a
 * super user by the claim: the harness's own tools and the background
 * producer use it (a test convenience, not advice).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import cloneDeep from "lodash/cloneDeep.js";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { eventually } from "../../devbed/eventually.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import {
  assertNothingLost,
  createTopic,
  describeTopic,
  NumberedProducer,
  assertSafeRoll,
  secretData,
  tlsClientConfig,
  startStream,
} from "../kafka/proofs.ts";
import { teardown } from "../teardown.ts";

const log = (m: string): void => {
  console.log(`[access] ${m}`);
};

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Owned extends KubeObject {
  spec: Record<string, unknown>;
  status?: Record<string, unknown> & { conditions?: Condition[] };
}
interface Claim extends KubeObject {
  spec: Record<string, unknown> & { kafka: Record<string, unknown> };
}

const ns = "team-a";
const stream = "orders";

describe("topics, users and access on a running stretch cluster", () => {
  let bed: KafkaStretchBed;
  let producer: NumberedProducer;
  const claim = threeClusterClaim("access", "static") as Claim;
  claim.spec["writeConnectionSecretToRef"] = { name: "access-kafka" };

  const applyClaim = async (edit: (c: Claim) => void): Promise<void> => {
    edit(claim);
    await bed.central.apply(cloneDeep(claim), { fieldManager: "test" });
  };
  const own = async (
    kind: "KafkaTopic" | "KafkaUser",
    name: string,
    spec: object,
  ): Promise<void> => {
    await bed.central.apply(
      {
        apiVersion: "stretchkafka.dev/v1alpha1",
        kind,
        metadata: { name, namespace: ns },
        spec: { kafkaRef: { name: "access" }, ...spec },
      },
      { fieldManager: "test" },
    );
  };
  const get = (kind: string, name: string): Promise<Owned | undefined> =>
    bed.central.find<Owned>("stretchkafka.dev/v1alpha1", kind, name, ns);
  /** Waits until the object's condition is as asked (and, when given, `also` holds), returns the object. */
  const until = (
    kind: string,
    name: string,
    type: string,
    status: string,
    also: (o: Owned) => boolean = () => true,
    seconds = 120,
  ): Promise<Owned> =>
    eventually(
      `${kind} ${name} ${type}=${status}`,
      async () => {
        const o = await get(kind, name);
        const c = o?.status?.conditions?.find((x) => x.type === type);
        return o && c?.status === status && also(o) ? o : undefined;
      },
      seconds,
      1000,
    );
  const topicNames = async (): Promise<string[]> =>
    (
      await bed.tool("east", "org.apache.kafka.tools.TopicCommand", [
        "--bootstrap-server",
        bed.bootstrap("east"),
        "--list",
      ])
    ).stdout
      .split("\n")
      .filter(Boolean);
  const topicConfigLine = async (topic: string): Promise<string> =>
    (
      await bed.tool("east", "org.apache.kafka.tools.TopicCommand", [
        "--bootstrap-server",
        bed.bootstrap("east"),
        "--describe",
        "--topic",
        topic,
      ])
    ).stdout
      .split("\n")
      .find((l) => l.includes("Configs:")) ?? "";
  const clusterOf = (id: number): string => bed.nodes.find((n) => n.id === id)?.cluster ?? "?";
  /** Rolls the nodes `edit` changes (`restarts` of them) and checks the roll kept Kafka writable. */
  const roll = (edit: (c: Claim) => void, restarts: number): Promise<void> =>
    assertSafeRoll(bed, producer, stream, () => applyClaim(edit), restarts, log);
  const userSecret = (name: string): Promise<Record<string, Buffer>> => secretData(bed, ns, name);
  const tlsClient = (user: string): Promise<Record<string, string>> =>
    tlsClientConfig(bed, ns, user);
  const scramClient = async (user: string): Promise<Record<string, string>> => {
    const s = await userSecret(user);
    const { "security.protocol": _, ...trust } = await tlsClientConfig(bed, ns);
    return {
      "security.protocol": "SASL_SSL",
      "sasl.mechanism": "SCRAM-SHA-512",
      "sasl.jaas.config": s["sasl.jaas.config"]?.toString() ?? "",
      ...trust,
    };
  };
  /** A short acks=all stream as `user` on the TLS listener: what got acknowledged and what Kafka refused. */
  const produceAs = async (
    user: string,
    topic: string,
    config: Record<string, string>,
    messages = 20,
  ): Promise<NumberedProducer> => {
    const p = new NumberedProducer(bed, "east", topic, messages, 50, {
      port: 9093,
      name: `${user}-${Date.now()}`,
      config: { ...config, "delivery.timeout.ms": 30000, "request.timeout.ms": 10000 },
    });
    await p.finished().catch(() => {});
    return p;
  };

  /**
   * Kafka refused every message for want of authorization: on the topic, or
   * on the cluster when the user may write no topic at all (an idempotent
   * producer's InitProducerId needs Write on some topic).
   */
  const refusedByKafka = (p: NumberedProducer): void => {
    const said = [...p.errors, p.failure ?? ""].join("\n");
    assert.equal(p.acks.length, 0, "nothing acknowledged");
    assert.match(said, /(Topic|Cluster)AuthorizationException/, said);
  };

  before(async () => {
    bed = await KafkaStretchBed.start({ claim: cloneDeep(claim), latencyMs: 5, log });
    producer = await startStream(bed, stream, 6);
  });

  after(async () => {
    await teardown(
      () => {
        producer.stop();
      },
      () => bed.stop(),
    );
  });

  test("a KafkaTopic gets one replica per cluster; config changes, partitions grow, a decrease is refused", async () => {
    await own("KafkaTopic", "events", { partitions: 3, config: { "retention.ms": 3600000 } });
    const ready = await until("KafkaTopic", "events", "Ready", "True");
    assert.deepEqual(ready.status?.["clusters"], ["east", "north", "west"]);
    assert.equal(ready.status["underReplicated"], 0);
    let parts = await describeTopic(bed, "east", "events");
    assert.equal(parts.length, 3);
    for (const p of parts)
      assert.deepEqual(
        p.replicas.map(clusterOf).sort(),
        ["east", "north", "west"],
        `partition ${p.partition}`,
      );
    assert.equal(
      new Set(parts.map((p) => clusterOf(p.replicas[0] ?? -1))).size,
      3,
      "leaders in every cluster",
    );
    assert.match(await topicConfigLine("events"), /retention\.ms=3600000/);

    await own("KafkaTopic", "events", {
      partitions: 6,
      config: { "retention.ms": 7200000, "cleanup.policy": "compact" },
    });
    await eventually("6 partitions and the new config in Kafka", async () => {
      const p = await describeTopic(bed, "east", "events");
      const c = await topicConfigLine("events");
      return p.length === 6 && /retention\.ms=7200000/.test(c) && /cleanup\.policy=compact/.test(c)
        ? p
        : undefined;
    });
    parts = await describeTopic(bed, "east", "events");
    for (const p of parts)
      assert.deepEqual(
        p.replicas.map(clusterOf).sort(),
        ["east", "north", "west"],
        `partition ${p.partition}`,
      );
    // A key dropped from the object goes back to the default.
    await own("KafkaTopic", "events", { partitions: 6, config: { "retention.ms": 7200000 } });
    await eventually("cleanup.policy removed", async () =>
      /cleanup\.policy/.test(await topicConfigLine("events")) ? undefined : true,
    );

    // Replicas 3 -> 2 -> 3 by reassignment, one per cluster throughout.
    for (const replicas of [2, 3]) {
      await own("KafkaTopic", "events", {
        partitions: 6,
        replicas,
        config: { "retention.ms": 7200000 },
      });
      const moved = await eventually(`${replicas} replicas per partition`, async () => {
        const p = await describeTopic(bed, "east", "events");
        return p.length === 6 &&
          p.every((x) => x.replicas.length === replicas && x.isr.length === replicas)
          ? p
          : undefined;
      });
      for (const p of moved)
        assert.equal(new Set(p.replicas.map(clusterOf)).size, replicas, `partition ${p.partition}`);
      await until(
        "KafkaTopic",
        "events",
        "Ready",
        "True",
        (o) => o.status?.["replicas"] === replicas,
      );
    }

    await own("KafkaTopic", "events", { partitions: 2, config: { "retention.ms": 7200000 } });
    const refused = await until("KafkaTopic", "events", "Synced", "False");
    const synced = refused.status?.conditions?.find((c) => c.type === "Synced");
    assert.match(
      synced?.message ?? "",
      /spec\.partitions: Kafka cannot remove partitions; the topic has 6/,
    );
    assert.equal((await describeTopic(bed, "east", "events")).length, 6, "nothing changed");
    await own("KafkaTopic", "events", { partitions: 6, config: { "retention.ms": 7200000 } });
    await until("KafkaTopic", "events", "Ready", "True");
  });

  test("an existing topic is adopted only when asked; Delete deletes, Orphan keeps", async () => {
    await createTopic(bed, "east", "legacy", 2);
    await own("KafkaTopic", "legacy", { partitions: 2, deletionPolicy: "Orphan" });
    const refused = await until("KafkaTopic", "legacy", "Ready", "False", (o) =>
      (o.status?.conditions ?? []).some((c) => c.reason === "Refused"),
    );
    assert.match(
      refused.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "",
      /a topic named legacy exists in Kafka and was not created by this KafkaTopic; set spec\.adopt: true/,
    );
    await own("KafkaTopic", "legacy", { partitions: 2, deletionPolicy: "Orphan", adopt: true });
    await until("KafkaTopic", "legacy", "Ready", "True");

    // A claim of another namespace cannot be named.
    await bed.central.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-b" } },
      { fieldManager: "test" },
    );
    await bed.central.apply(
      {
        apiVersion: "stretchkafka.dev/v1alpha1",
        kind: "KafkaTopic",
        metadata: { name: "borrowed", namespace: "team-b" },
        spec: { kafkaRef: { name: "access" }, partitions: 1 },
      },
      { fieldManager: "test" },
    );
    const borrowed = await eventually("the other namespace's topic is refused", async () => {
      const o = await bed.central.find<Owned>(
        "stretchkafka.dev/v1alpha1",
        "KafkaTopic",
        "borrowed",
        "team-b",
      );
      return o?.status?.conditions?.find((c) => c.reason === "KafkaNotFound");
    });
    assert.match(borrowed.message ?? "", /no StretchKafka access in namespace team-b/);
    assert.ok(!(await topicNames()).includes("borrowed"));

    for (const name of ["events", "legacy"])
      await bed.central.delete("stretchkafka.dev/v1alpha1", "KafkaTopic", name, ns);
    await eventually("both KafkaTopics gone", async () =>
      (await get("KafkaTopic", "events")) || (await get("KafkaTopic", "legacy")) ? undefined : true,
    );
    await eventually("events deleted in Kafka", async () =>
      (await topicNames()).includes("events") ? undefined : true,
    );
    assert.ok((await topicNames()).includes("legacy"), "the orphaned topic stays");
  });

  test("turning on authorization and TLS client authentication rolls every node safely", async () => {
    await roll((c) => {
      c.spec.kafka["authorization"] = { type: "simple", superUsers: ["ANONYMOUS"] };
      c.spec.kafka["listeners"] = { tls: { authentication: { type: "tls" } } };
    }, 6);
  });

  test("a TLS user produces where its ACLs allow, is refused elsewhere, loses an ACL removed, keeps producing through renewal", async () => {
    await own("KafkaTopic", "payments", { partitions: 3 });
    await until("KafkaTopic", "payments", "Ready", "True");
    const acls = (ops: string[]) => ({
      authentication: { type: "tls" },
      authorization: {
        type: "simple",
        acls: [{ resource: { type: "topic", name: "payments" }, operations: ops }],
      },
    });
    await own("KafkaUser", "alice", acls(["Write", "Describe"]));
    const alice = await until("KafkaUser", "alice", "Ready", "True");
    assert.equal(alice.status?.["username"], "CN=alice");
    assert.equal(alice.status["acls"], 2);

    const allowed = await produceAs("alice", "payments", await tlsClient("alice"));
    assert.equal(allowed.acks.length, 20, [...allowed.errors, allowed.failure ?? ""].join("\n"));
    refusedByKafka(await produceAs("alice", stream, await tlsClient("alice"), 3));

    // A renewed certificate (new key, same clients CA): a running client keeps producing.
    const running = new NumberedProducer(bed, "east", "payments", 1_000_000, 50, {
      port: 9093,
      name: "alice-long",
      config: await tlsClient("alice"),
    });
    try {
      const before = (await userSecret("alice"))["user.crt"]?.toString();
      await bed.central.delete("v1", "Secret", "alice", ns);
      await eventually("a new certificate", async () => {
        const now = await userSecret("alice").catch(() => undefined);
        return now?.["user.crt"] && now["user.crt"].toString() !== before ? true : undefined;
      });
      const at = Date.now();
      await eventually("the running client goes on producing", () =>
        running.acks.filter((a) => a.at > at + 5000).length > 50 ? true : undefined,
      );
      assert.deepEqual(running.errors, []);
      const renewed = await produceAs("alice", "payments", await tlsClient("alice"));
      assert.equal(renewed.acks.length, 20, renewed.errors.join("\n"));
    } finally {
      running.stop();
    }

    // An ACL removed from the object leaves Kafka.
    await own("KafkaUser", "alice", acls(["Describe"]));
    await until("KafkaUser", "alice", "Ready", "True", (o) => o.status?.["acls"] === 1);
    const { stdout } = await bed.tool("east", "org.apache.kafka.tools.AclCommand", [
      "--bootstrap-server",
      bed.bootstrap("east"),
      "--list",
      "--principal",
      "User:CN=alice",
    ]);
    assert.doesNotMatch(stdout, /operation=WRITE/);
    assert.match(stdout, /operation=DESCRIBE/);
    refusedByKafka(await produceAs("alice", "payments", await tlsClient("alice"), 3));
  });

  test("a SCRAM user on a listener switched to SCRAM-SHA-512 produces; losing a cluster meanwhile loses nothing", async () => {
    await roll((c) => {
      c.spec.kafka["listeners"] = { tls: { authentication: { type: "scram-sha-512" } } };
    }, 3); // the brokers: controllers open no client listener
    await own("KafkaUser", "bob", {
      authentication: { type: "scram-sha-512" },
      authorization: {
        type: "simple",
        acls: [
          {
            resource: { type: "topic", name: "pay", patternType: "prefix" },
            operations: ["Write", "Describe"],
          },
        ],
      },
      quotas: { producerByteRate: 10485760 },
    });
    const bob = await until("KafkaUser", "bob", "Ready", "True");
    assert.equal(bob.status?.["username"], "bob");
    const quotas = await bed.tool("east", "kafka.admin.ConfigCommand", [
      "--bootstrap-server",
      bed.bootstrap("east"),
      "--describe",
      "--entity-type",
      "users",
      "--entity-name",
      "bob",
    ]);
    // Kafka prints quotas as Java doubles (1.048576E7).
    assert.equal(
      Number(/producer_byte_rate=([\d.E]+)/.exec(quotas.stdout)?.[1]),
      10485760,
      quotas.stdout,
    );
    refusedByKafka(await produceAs("bob", stream, await scramClient("bob"), 3));

    // A topic of its own: the numbered stream's values must be unique in it.
    await own("KafkaTopic", "payouts", { partitions: 3 });
    await until("KafkaTopic", "payouts", "Ready", "True");
    const paying = new NumberedProducer(bed, "east", "payouts", 1_000_000, 200, {
      port: 9093,
      name: "bob-long",
      config: {
        ...(await scramClient("bob")),
        "enable.idempotence": "true",
        "delivery.timeout.ms": 300000,
      },
    });
    await eventually("bob's acknowledgements", () => (paying.acks.length > 500 ? true : undefined));
    await bed.stopCluster("west");
    const at = Date.now();
    log(`stopped west after ${paying.acks.length} acknowledgements`);
    await eventually(
      "bob keeps producing without west",
      () => (paying.acks.filter((a) => a.at > at).length > 1000 ? true : undefined),
      180,
    );
    await assertNothingLost(bed, paying, "payouts");
  });
});
