/**
 * Clients outside Kubernetes on real Kafka, through the whole path: the
 * external listener of each type on one running cluster, changed from
 * loadbalancer to nodeport to ingress (TLS passthrough, client certificates)
 * while an acks=all stream runs on the internal listener. Each cluster's
 * edge (load balancers, node ports, an NGINX-like ingress controller) is
 * played by devbed/kafka/edge.ts. The outside client is Kafka's own producer
 * and consumer resolving only the names in its own hosts file (none, or the
 * ingress hosts), so it can reach Kafka through nothing but the addresses
 * the brokers advertise on EXTERNAL-9094 and the connection Secret lists.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import cloneDeep from "lodash/cloneDeep.js";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { eventually } from "../../devbed/eventually.ts";
import { RunError } from "../../devbed/run.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import {
  assertNothingLost,
  assertSafeRoll,
  createTopic,
  type NumberedProducer,
  startStream,
  tlsClientConfig,
} from "../kafka/proofs.ts";
import { teardown } from "../teardown.ts";

const log = (m: string): void => {
  console.log(`[external] ${m}`);
};

interface Claim extends KubeObject {
  spec: Record<string, unknown> & {
    kafka: Record<string, unknown>;
    clusters: Record<string, unknown>[];
  };
}
type Hosts = { name: string; ip: string }[];

const ns = "team-a";
const stream = "orders";
/** Messages each outside producer sends. */
const count = 300;

describe("clients outside Kubernetes through the external listener, on real Kafka", () => {
  let bed: KafkaStretchBed;
  let producer: NumberedProducer;
  const claim = threeClusterClaim("outside", "static") as Claim;
  claim.spec["writeConnectionSecretToRef"] = { name: "outside-kafka" };
  claim.spec.kafka["listeners"] = { external: { type: "loadbalancer" } };

  const applyClaim = async (edit: (c: Claim) => void): Promise<void> => {
    edit(claim);
    await bed.central.apply(cloneDeep(claim), { fieldManager: "test" });
  };
  /** Changes the external listener on the running cluster: its three brokers roll, nothing else. */
  const roll = (edit: (c: Claim) => void): Promise<void> =>
    assertSafeRoll(bed, producer, stream, () => applyClaim(edit), 3, log);

  /** The connection Secret's external bootstrap servers, overall and per cluster, once they match. */
  const externalBootstrap = (
    pattern: RegExp,
  ): Promise<{ all: string[]; byCluster: Record<string, string> }> =>
    eventually(
      `external bootstrap servers like ${String(pattern)}`,
      async () => {
        const c = await bed.connection();
        const all = (c["external.bootstrap.servers"] ?? "").split(",").filter(Boolean);
        const clusters = JSON.parse(c["clusters"] ?? "{}") as Record<
          string,
          { externalBootstrapServers?: string }
        >;
        const byCluster = Object.fromEntries(
          Object.entries(clusters).map(([k, v]) => [k, v.externalBootstrapServers ?? ""]),
        );
        return all.length === 3 &&
          all.every((a) => pattern.test(a)) &&
          Object.values(byCluster).every((a) => all.includes(a))
          ? { all, byCluster }
          : undefined;
      },
      180,
      1000,
    );

  /**
   * Produces `count` numbered records from outside through one cluster's
   * bootstrap and reads them back through another's; returns the values read.
   */
  const throughOutside = async (
    hosts: Hosts,
    produceVia: string,
    consumeVia: string,
    topic: string,
    config: Record<string, string>,
  ): Promise<{ acked: number; read: number[] }> => {
    await createTopic(bed, "east", topic, 3);
    const props = bed.clientConfig(`outside-${topic}.properties`, {
      ...config,
      "enable.idempotence": "true",
      acks: "all",
      retries: 2147483647,
      "delivery.timeout.ms": 120000,
    });
    const produced = await bed.kafka.outsideTool(
      hosts,
      "org.apache.kafka.tools.VerifiableProducer",
      [
        "--bootstrap-server",
        produceVia,
        "--topic",
        topic,
        "--max-messages",
        String(count),
        "--throughput",
        "200",
        "--acks",
        "-1",
        "--producer.config",
        props,
      ],
    );
    const acked = produced.stdout
      .split("\n")
      .filter((l) => l.includes('"name":"producer_send_success"')).length;
    const consumed = await bed.kafka
      .outsideTool(hosts, "org.apache.kafka.tools.consumer.ConsoleConsumer", [
        "--bootstrap-server",
        consumeVia,
        "--topic",
        topic,
        "--from-beginning",
        "--timeout-ms",
        "15000",
        "--consumer.config",
        props,
      ])
      .catch((err: unknown) => {
        // It exits non-zero on its timeout; what it printed still counts.
        if (err instanceof RunError) return { stdout: err.stdout, stderr: err.stderr };
        throw err;
      });
    const read = consumed.stdout
      .split("\n")
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
    log(`${topic}: ${acked} acknowledged via ${produceVia}, ${read.length} read via ${consumeVia}`);
    return { acked, read };
  };

  const assertAllThrough = (r: { acked: number; read: number[] }): void => {
    assert.equal(r.acked, count, "every record acknowledged through the external listener");
    assert.deepEqual(
      [...r.read].sort((a, b) => a - b),
      Array.from({ length: count }, (_, i) => i),
      "every record read back once through another cluster's external bootstrap",
    );
  };

  before(async () => {
    bed = await KafkaStretchBed.start({
      claim: cloneDeep(claim),
      latencyMs: 2,
      log,
      edge: true,
      readySeconds: 600,
    });
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

  test("loadbalancer: each cluster's bootstrap and brokers on their load balancers' addresses", async () => {
    const { all, byCluster } = await externalBootstrap(/^127\.72\.\d\.\d+:9094$/);
    // Each cluster's load balancers are that cluster's (127.72.<cluster index>.n).
    for (const [i, c] of bed.clusters.entries())
      assert.match(byCluster[c] ?? "", new RegExp(`^127\\.72\\.${i + 1}\\.`), c);
    const status = await bed.central.get<
      KubeObject & { status: { kafka: Record<string, string> } }
    >(claim.apiVersion, claim.kind, "outside", ns);
    assert.equal(status.status.kafka["externalBootstrapServers"], all.join(","));
    // No name resolves outside: only the addresses the brokers advertise can work.
    const r = await throughOutside(
      [],
      byCluster["west"] ?? "",
      byCluster["north"] ?? "",
      "outside-lb",
      await tlsClientConfig(bed, ns),
    );
    assertAllThrough(r);
  });

  test("nodeport: the listener changed on the running cluster rolls its brokers safely", async () => {
    await roll((c) => {
      c.spec.kafka["listeners"] = { external: { type: "nodeport" } };
      for (const cl of c.spec.clusters)
        cl["externalAddress"] = bed.kafka.edge(cl["name"] as string).nodeAddress;
    });
    const { byCluster } = await externalBootstrap(/^127\.70\.\d\.1:3\d{4}$/);
    const r = await throughOutside(
      [],
      byCluster["north"] ?? "",
      byCluster["east"] ?? "",
      "outside-np",
      await tlsClientConfig(bed, ns),
    );
    assertAllThrough(r);
  });

  test("ingress: TLS passthrough by host name, clients with a KafkaUser's certificate", async () => {
    await roll((c) => {
      c.spec.kafka["listeners"] = {
        external: { type: "ingress", authentication: { type: "tls" } },
      };
      for (const cl of c.spec.clusters) {
        const name = cl["name"] as string;
        cl["ingress"] = {
          bootstrapHost: `bootstrap.outside.${name}.example.test`,
          hostTemplate: `broker-{nodeId}.outside.${name}.example.test`,
        };
      }
    });
    const { byCluster } = await externalBootstrap(
      /^bootstrap\.outside\.[a-z]+\.example\.test:443$/,
    );
    // A user with a certificate, once a listener of the claim takes them.
    await bed.central.apply(
      {
        apiVersion: "stretchkafka.dev/v1alpha1",
        kind: "KafkaUser",
        metadata: { name: "outsider", namespace: ns },
        spec: { kafkaRef: { name: "outside" }, authentication: { type: "tls" } },
      },
      { fieldManager: "test" },
    );
    await eventually(
      "KafkaUser outsider Ready",
      async () => {
        const u = await bed.central.find<
          KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
        >("stretchkafka.dev/v1alpha1", "KafkaUser", "outsider", ns);
        return u?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
          ? true
          : undefined;
      },
      120,
      1000,
    );

    // The client's DNS: every ingress host, at its cluster's ingress controller.
    const hosts = await eventually(
      "every ingress host served",
      () => {
        const h = bed.clusters.flatMap((c) => bed.kafka.edge(c).ingressHosts());
        // A bootstrap host and one per broker in each of three clusters.
        return h.length === 6 ? h : undefined;
      },
      60,
      500,
    );
    log(`outside hosts: ${hosts.map((h) => `${h.name}=${h.ip}`).join(" ")}`);
    const withCertificate = await tlsClientConfig(bed, ns, "outsider");
    assertAllThrough(
      await throughOutside(
        hosts,
        byCluster["east"] ?? "",
        byCluster["west"] ?? "",
        "outside-ingress",
        withCertificate,
      ),
    );
    // Without a client certificate the listener refuses the client.
    const anonymous = await tlsClientConfig(bed, ns);
    const refused = await bed.kafka
      .outsideTool(hosts, "org.apache.kafka.tools.TopicCommand", [
        "--bootstrap-server",
        byCluster["east"] ?? "",
        "--list",
        "--command-config",
        bed.clientConfig("outside-anonymous.properties", {
          ...anonymous,
          "request.timeout.ms": 10000,
          "default.api.timeout.ms": 20000,
        }),
      ])
      .then(
        (r) => `listed: ${r.stdout}`,
        (err: unknown) => (err instanceof RunError ? err.stderr + err.stdout : String(err)),
      );
    log(
      `without a certificate: ${/.*(SSL handshake failed|SslAuthentication).*/.exec(refused)?.[0] ?? refused.slice(0, 400)}`,
    );
    assert.match(refused, /SSL handshake failed|SslAuthenticationException/);
    assert.doesNotMatch(refused, /^listed:/);
  });

  test("nothing the internal stream acknowledged through the three rolls was lost", async () => {
    await assertNothingLost(bed, producer, stream);
  });
});
