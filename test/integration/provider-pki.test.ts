/**
 * Certificate renewal and CA rollover on real API servers. The CA and a
 * node's certificate are made beforehand by the same PKI with its clock set
 * in the past, so that now the CA is inside its renewal window and the
 * certificate near its end; the running provider must roll the CA over
 * (both trusted), and replace the certificate with one from the new CA.
 * Two remote clusters: each ends up with its own node's key and no other.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import type { CertificateRequest } from "../../apis/index.ts";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { CaSecretStore } from "../../controller/provider/ca-store.ts";
import { certificatesIn, Pki } from "../../controller/provider/pki.ts";
import { Provider } from "../../controller/provider/provider.ts";
import { eventually } from "../../devbed/eventually.ts";
import {
  fastQueue,
  fm,
  group,
  providerBed,
  testLogger,
  type ProviderBed,
} from "../../devbed/provider-bed.ts";

const day = 24 * 3600 * 1000;
const labels = { "app.kubernetes.io/managed-by": "stretch-kafka" };
let central: DynamicClient;
let east: DynamicClient;
let west: DynamicClient;
let pb: ProviderBed;
let provider: Provider | undefined;

type Secret = KubeObject & { data?: Record<string, string> };
const text = (s: Secret | undefined, k: string): string =>
  Buffer.from(s?.data?.[k] ?? "", "base64").toString("utf8");

const request: CertificateRequest = {
  authority: "orders",
  commonName: "orders-kafka",
  issuer: "ClusterCA",
  dnsNames: ["orders-brokers-0.east.orders-kafka-brokers.kafka.svc.clusterset.local"],
  validityDays: 365,
  renewBeforeDays: 30,
  keys: { certificate: "orders-brokers-0.crt", privateKey: "orders-brokers-0.key", ca: "ca.crt" },
};

before(async () => {
  pb = await providerBed({ remotes: ["east", "west"] });
  central = pb.central;
  east = pb.remote("east");
  west = pb.remote("west");
});

after(async () => {
  await provider?.stop();
  await pb.close();
});

test(
  "a certificate near its end is renewed, a CA near its end rolls over, each cluster holds only its own node key",
  { timeout: 120_000 },
  async () => {
    // The past: a 5-year CA made 4.9 years ago, and a node certificate made 360 days ago.
    const store = new CaSecretStore(central, "stretch-kafka-system");
    const longAgo = new Pki(store, () => new Date(Date.now() - (5 * 365 - 36) * day));
    const oldCa = certificatesIn(await longAgo.bundle("orders", "ClusterCA"))[0] ?? "";
    const lastYear = new Pki(store, () => new Date(Date.now() - 360 * day));
    const aging = await lastYear.certificate(request);
    await east.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "orders-brokers-0", namespace: "kafka", labels },
        stringData: {
          "orders-brokers-0.crt": aging.cert,
          "orders-brokers-0.key": aging.key,
          "ca.crt": aging.ca,
        },
      },
      fm,
    );
    assert.ok(
      new Date(new X509Certificate(oldCa).validTo).getTime() - Date.now() < 60 * day,
      "the CA is due for rollover",
    );
    assert.ok(
      new Date(new X509Certificate(aging.cert).validTo).getTime() - Date.now() < 30 * day,
      "the certificate is due for renewal",
    );

    provider = new Provider(central, testLogger(), fastQueue);
    await provider.start();
    const westNode: CertificateRequest = {
      ...request,
      dnsNames: ["orders-brokers-1.west.orders-kafka-brokers.kafka.svc.clusterset.local"],
      keys: {
        certificate: "orders-brokers-1.crt",
        privateKey: "orders-brokers-1.key",
        ca: "ca.crt",
      },
    };
    for (const [name, cluster, remoteName, forProvider] of [
      ["node-0-cert", "east", "orders-brokers-0", { certificate: request }],
      ["node-1-cert", "west", "orders-brokers-1", { certificate: westNode }],
      [
        "cluster-ca-cert",
        "east",
        "orders-cluster-ca-cert",
        { caCertificate: { authority: "orders", issuer: "ClusterCA" } },
      ],
    ] as const) {
      await central.apply(
        {
          apiVersion: group,
          kind: "RemoteSecret",
          metadata: { name },
          spec: {
            providerConfigRef: { name: cluster },
            forProvider: {
              manifest: {
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: remoteName, namespace: "kafka", labels },
              },
              ...forProvider,
            },
          },
        },
        fm,
      );
    }

    const renewed = await eventually("certificate renewed", async () => {
      const s = await east.find<Secret>("v1", "Secret", "orders-brokers-0", "kafka");
      return text(s, "orders-brokers-0.crt") !== aging.cert &&
        text(s, "orders-brokers-0.crt") !== ""
        ? s
        : undefined;
    });
    const trusted = await eventually("both CAs published", async () => {
      const certs = certificatesIn(
        text(await east.find<Secret>("v1", "Secret", "orders-cluster-ca-cert", "kafka"), "ca.crt"),
      );
      return certs.length === 2 ? certs : undefined;
    });
    const [newCa] = trusted;
    assert.ok(newCa && newCa !== oldCa, "a new CA signs");
    assert.ok(trusted.includes(oldCa), "the old CA stays trusted during the rollover");

    const leaf = new X509Certificate(text(renewed, "orders-brokers-0.crt"));
    assert.ok(
      leaf.verify(new X509Certificate(newCa).publicKey),
      "the renewed certificate comes from the new CA",
    );
    assert.ok(new Date(leaf.validTo).getTime() - Date.now() > 300 * day, "a full validity again");
    assert.notEqual(text(renewed, "orders-brokers-0.key"), aging.key, "with a new key");
    assert.equal(certificatesIn(text(renewed, "ca.crt")).length, 2, "the node trusts both CAs too");

    // Each cluster holds its own node's key and no other: not the other node's, not a CA's.
    const westSecret = await eventually("west node certificate written", async () => {
      const w = await west.find<Secret>("v1", "Secret", "orders-brokers-1", "kafka");
      return text(w, "orders-brokers-1.crt") ? w : undefined;
    });
    assert.ok(
      new X509Certificate(text(westSecret, "orders-brokers-1.crt")).verify(
        new X509Certificate(newCa).publicKey,
      ),
    );
    const keysIn = async (c: DynamicClient): Promise<string[]> =>
      (await c.list<Secret>("v1", "Secret", { namespace: "kafka" })).items.flatMap((x) =>
        Object.keys(x.data ?? {}).filter((k) => k.endsWith(".key")),
      );
    assert.deepEqual(await keysIn(east), ["orders-brokers-0.key"]);
    assert.deepEqual(await keysIn(west), ["orders-brokers-1.key"]);

    const central_ = await central.get<Secret>(
      "v1",
      "Secret",
      "orders-cluster-ca",
      "stretch-kafka-system",
    );
    assert.equal(
      certificatesIn(text(central_, "previous.crt"))[0],
      oldCa,
      "the central Secret keeps the old CA as previous",
    );
  },
);
