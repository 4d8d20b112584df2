/**
 * The external listener from the claim: the Services and Ingress of each
 * type per cluster, a broker configured only once its addresses are known,
 * the advertised addresses, certificate names, authentication, the
 * connection Secret's external bootstrap servers, and refusals naming the
 * field to fix.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Severity, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import type { KubeObject } from "../../functions/render.ts";
import { observedFrom, runExample } from "./function-fixtures.ts";

interface Manifest extends KubeObject {
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

function remote(r: RunFunctionResponse): { cluster: string; mr: KubeObject; m: Manifest }[] {
  return Object.values(r.desired?.resources ?? {}).map((d) => {
    const mr = d.resource as KubeObject & {
      spec: { providerConfigRef: { name: string }; forProvider: { manifest: Manifest } };
    };
    return { cluster: mr.spec.providerConfigRef.name, mr, m: mr.spec.forProvider.manifest };
  });
}

/** server.config of every node, by pod name. */
function serverConfigs(r: RunFunctionResponse): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const { m } of remote(r)) {
    const text = m.data?.["server.config"];
    if (m.kind !== "ConfigMap" || !text) continue;
    out.set(
      m.metadata.name ?? "",
      new Map(
        text
          .split("\n")
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      ),
    );
  }
  return out;
}

function certificateOf(
  r: RunFunctionResponse,
  pod: string,
): { dnsNames: string[]; ipAddresses: string[] } {
  const mr = remote(r).find((x) => x.m.kind === "Secret" && x.m.metadata.name === pod)?.mr as
    | { spec: { forProvider: { certificate: { dnsNames: string[]; ipAddresses?: string[] } } } }
    | undefined;
  assert.ok(mr, `certificate Secret of ${pod}`);
  const c = mr.spec.forProvider.certificate;
  return { dnsNames: c.dnsNames, ipAddresses: c.ipAddresses ?? [] };
}

const external =
  (type: string, extra: Record<string, unknown> = {}) =>
  (spec: Record<string, unknown>): void => {
    const kafka = spec["kafka"] as Record<string, unknown>;
    kafka["listeners"] = { external: { type, ...extra } };
  };

const clusters = (spec: Record<string, unknown>): Record<string, unknown>[] =>
  spec["clusters"] as Record<string, unknown>[];

/** The cluster index of a cluster name in the example (east 1, west 2, north 3). */
const index = (cluster: string): number => ["east", "west", "north"].indexOf(cluster) + 1;

/** What the remote clusters wrote back on the external Services: load balancers and node ports. */
function servicesServed(r: RunFunctionResponse): KubeObject[] {
  let n = 0;
  return observedFrom(r, (mr) => {
    const m = (mr["spec"] as { forProvider: { manifest: Manifest } }).forProvider.manifest;
    if (m.kind !== "Service" || !(m.metadata.name ?? "").includes("external")) return undefined;
    n += 1;
    const cluster = (mr["spec"] as { providerConfigRef: { name: string } }).providerConfigRef.name;
    return {
      atProvider: {
        ports: [{ name: "tcp-external", port: 9094, nodePort: 31000 + n }],
        loadBalancerIngress: [{ ip: `127.72.${index(cluster)}.${n}` }],
      },
    };
  });
}

test("loadbalancer: Services per cluster; brokers wait for their addresses, then advertise them", () => {
  const mutate = external("loadbalancer", {
    loadBalancer: { loadBalancerClass: "example.com/lb", annotations: { team: "a" } },
  });
  const first = runExample(mutate);
  const services = remote(first).filter(
    (x) => x.m.kind === "Service" && (x.m.metadata.name ?? "").includes("external"),
  );
  // A bootstrap and two brokers in each of three clusters.
  assert.equal(services.length, 9);
  for (const { m } of services) {
    assert.equal(m.spec?.["type"], "LoadBalancer");
    assert.equal(m.spec["loadBalancerClass"], "example.com/lb");
    assert.equal(m.metadata.annotations?.["team"], "a");
  }
  const names = services
    .filter((x) => x.cluster === "east")
    .map((x) => x.m.metadata.name)
    .sort();
  assert.deepEqual(names, [
    "orders-brokers-external-0",
    "orders-brokers-external-1",
    "orders-kafka-external-bootstrap",
  ]);
  // No broker is configured before its load balancer has an address.
  const configs = serverConfigs(first);
  assert.equal([...configs.values()].filter((c) => c.get("process.roles") === "broker").length, 0);
  const degraded = first.conditions.find((c) => c.type === "Degraded");
  assert.match(degraded?.message ?? "", /load balancer of Service orders-brokers-external-0/);

  const r = runExample(mutate, undefined, servicesServed(first));
  const all = serverConfigs(r);
  const brokers = [...all.entries()].filter(([, c]) => c.get("process.roles") === "broker");
  assert.equal(brokers.length, 6);
  for (const [pod, c] of brokers) {
    assert.match(c.get("listeners") ?? "", /EXTERNAL-9094:\/\/0\.0\.0\.0:9094/, pod);
    const advertised = (c.get("advertised.listeners") ?? "").split(",");
    const ext = advertised.find((a) => a.startsWith("EXTERNAL-9094://"));
    assert.match(ext ?? "", /^EXTERNAL-9094:\/\/127\.72\.\d\.\d+:9094$/, pod);
    assert.match(c.get("listener.security.protocol.map") ?? "", /EXTERNAL-9094:SSL(,|$)/);
    assert.equal(c.get("listener.name.external-9094.ssl.client.auth"), "none");
    // Its certificate names its own address and its cluster's bootstrap.
    const cert = certificateOf(r, pod);
    const ip = (ext ?? "").replace("EXTERNAL-9094://", "").replace(":9094", "");
    assert.ok(cert.ipAddresses.includes(ip), `${pod}: ${cert.ipAddresses.join(",")}`);
    assert.equal(cert.ipAddresses.filter((a) => a.startsWith("127.72.")).length, 2, pod);
  }
  for (const [pod, c] of all) {
    if (c.get("process.roles") === "controller")
      assert.doesNotMatch(c.get("listeners") ?? "", /EXTERNAL/, pod);
  }
  const secret = r.desired?.composite?.connectionDetails ?? {};
  const bootstrap = Buffer.from(secret["external.bootstrap.servers"] ?? "").toString();
  assert.equal(bootstrap.split(",").length, 3);
  const perCluster = JSON.parse(Buffer.from(secret["clusters"] ?? "").toString()) as Record<
    string,
    { externalBootstrapServers?: string }
  >;
  for (const c of ["east", "west", "north"]) {
    assert.match(
      perCluster[c]?.externalBootstrapServers ?? "",
      new RegExp(`^127\\.72\\.${index(c)}\\.\\d+:9094$`),
    );
    assert.ok(bootstrap.includes(perCluster[c]?.externalBootstrapServers ?? "-"));
  }
  const status = r.desired?.composite?.resource?.["status"] as {
    kafka: { externalBootstrapServers?: string };
    clusters: { name: string; externalBootstrapServers?: string }[];
  };
  assert.equal(status.kafka.externalBootstrapServers, bootstrap);
  assert.ok(status.clusters.every((c) => c.externalBootstrapServers));
});

test("nodeport: the cluster's externalAddress and the assigned node ports; required per cluster", () => {
  const refused = runExample(external("nodeport"));
  const fatal = refused.results.filter((x) => x.severity === Severity.SEVERITY_FATAL);
  assert.match(
    fatal[0]?.message ?? "",
    /spec\.clusters\[0\]\.externalAddress: is required with an external listener of type nodeport/,
  );
  assert.equal(Object.keys(refused.desired?.resources ?? {}).length, 0);

  const mutate = (spec: Record<string, unknown>): void => {
    external("nodeport")(spec);
    for (const c of clusters(spec))
      c["externalAddress"] = `${c["name"] as string}.nodes.example.com`;
  };
  const first = runExample(mutate);
  const services = remote(first).filter(
    (x) => x.m.kind === "Service" && (x.m.metadata.name ?? "").includes("external"),
  );
  assert.ok(services.every((x) => x.m.spec?.["type"] === "NodePort"));
  const r = runExample(mutate, undefined, servicesServed(first));
  const c = serverConfigs(r).get("orders-brokers-1");
  assert.match(
    c?.get("advertised.listeners") ?? "",
    /EXTERNAL-9094:\/\/east\.nodes\.example\.com:310\d\d/,
  );
  assert.ok(certificateOf(r, "orders-brokers-1").dnsNames.includes("east.nodes.example.com"));
  const bootstrap = Buffer.from(
    r.desired?.composite?.connectionDetails["external.bootstrap.servers"] ?? "",
  ).toString();
  assert.match(
    bootstrap,
    /^east\.nodes\.example\.com:310\d\d,west\.nodes\.example\.com:310\d\d,north\.nodes\.example\.com:310\d\d$/,
  );
});

test("ingress: one Ingress per cluster with TLS passthrough, hosts from the cluster's template, port 443", () => {
  const refused = runExample(external("ingress"));
  assert.match(
    refused.results.find((x) => x.severity === Severity.SEVERITY_FATAL)?.message ?? "",
    /spec\.clusters\[0\]\.ingress: is required with an external listener of type ingress/,
  );
  const mutate = (spec: Record<string, unknown>): void => {
    external("ingress", {
      authentication: { type: "tls" },
      ingress: { className: "public", annotations: { "example.com/tier": "edge" } },
    })(spec);
    for (const c of clusters(spec)) {
      const n = c["name"] as string;
      c["ingress"] = {
        bootstrapHost: `bootstrap.${n}.kafka.example.com`,
        hostTemplate: `broker-{nodeId}.${n}.kafka.example.com`,
      };
    }
  };
  // Host names are known at once: nothing waits.
  const r = runExample(mutate);
  const ingresses = remote(r).filter((x) => x.m.kind === "Ingress");
  assert.deepEqual(ingresses.map((x) => x.cluster).sort(), ["east", "north", "west"]);
  const east = ingresses.find((x) => x.cluster === "east")?.m;
  assert.equal(east?.metadata.annotations?.["nginx.ingress.kubernetes.io/ssl-passthrough"], "true");
  assert.equal(east.metadata.annotations["example.com/tier"], "edge");
  assert.equal(east.spec?.["ingressClassName"], "public");
  const rules = east.spec["rules"] as {
    host: string;
    http: { paths: { backend: { service: { name: string } } }[] };
  }[];
  assert.deepEqual(
    rules.map((x) => [x.host, x.http.paths[0]?.backend.service.name]),
    [
      ["bootstrap.east.kafka.example.com", "orders-kafka-external-bootstrap"],
      ["broker-0.east.kafka.example.com", "orders-brokers-external-0"],
      ["broker-1.east.kafka.example.com", "orders-brokers-external-1"],
    ],
  );
  const services = remote(r).filter(
    (x) => x.m.kind === "Service" && (x.m.metadata.name ?? "").includes("external"),
  );
  assert.ok(services.every((x) => x.m.spec?.["type"] === "ClusterIP"));
  const c = serverConfigs(r).get("orders-brokers-1");
  assert.match(
    c?.get("advertised.listeners") ?? "",
    /EXTERNAL-9094:\/\/broker-1\.east\.kafka\.example\.com:443/,
  );
  // tls authentication: clients present a clients-CA certificate.
  assert.equal(c?.get("listener.name.external-9094.ssl.client.auth"), "required");
  assert.match(
    c.get("listener.name.external-9094.ssl.truststore.certificates") ?? "",
    /orders-clients-ca-cert:ca\.crt/,
  );
  // The podset waits until the node's certificate names its external hosts (the provider checks).
  const pod = remote(r)
    .filter((x) => x.m.kind === "StrimziPodSet")
    .flatMap((x) => (x.m.spec as { pods: KubeObject[] }).pods)
    .find((p) => p.metadata.name === "orders-brokers-1");
  assert.equal(
    pod?.metadata.annotations?.["stretchkafka.dev/certificate-names"],
    "broker-1.east.kafka.example.com,bootstrap.east.kafka.example.com",
  );
  const names = certificateOf(r, "orders-brokers-1").dnsNames;
  assert.ok(names.includes("broker-1.east.kafka.example.com"));
  assert.ok(names.includes("bootstrap.east.kafka.example.com"));
  assert.equal(
    Buffer.from(
      r.desired?.composite?.connectionDetails["external.bootstrap.servers"] ?? "",
    ).toString(),
    "bootstrap.east.kafka.example.com:443,bootstrap.west.kafka.example.com:443,bootstrap.north.kafka.example.com:443",
  );

  const dup = runExample((spec) => {
    mutate(spec);
    const [, west] = clusters(spec);
    (west?.["ingress"] as Record<string, string>)["bootstrapHost"] =
      "bootstrap.east.kafka.example.com";
  });
  assert.match(
    dup.results.find((x) => x.severity === Severity.SEVERITY_FATAL)?.message ?? "",
    /spec\.clusters\[1\]\.ingress\.bootstrapHost: "bootstrap\.east\.kafka\.example\.com" is also the bootstrap host of spec\.clusters\[0\]/,
  );
});

test("scram-sha-512 on the external listener: SASL_SSL with the SCRAM login", () => {
  const r = runExample((spec) => {
    external("ingress", { authentication: { type: "scram-sha-512" } })(spec);
    for (const c of clusters(spec))
      c["ingress"] = {
        bootstrapHost: `b.${c["name"] as string}.example.com`,
        hostTemplate: "k{nodeId}.example.com",
      };
  });
  const c = serverConfigs(r).get("orders-brokers-1");
  assert.match(c?.get("listener.security.protocol.map") ?? "", /EXTERNAL-9094:SASL_SSL/);
  assert.equal(c?.get("listener.name.external-9094.sasl.enabled.mechanisms"), "SCRAM-SHA-512");
  assert.equal(c.get("listener.name.external-9094.ssl.client.auth"), "none");
});
