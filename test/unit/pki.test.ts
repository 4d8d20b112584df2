/** The PKI, checked with Node's own X.509 implementation. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { CertificateRequest } from "../../apis/index.ts";
import { KubeApiError } from "../../controller/kube/dynamic.ts";
import {
  CaConflict,
  certificatesIn,
  Pki,
  type CaMaterial,
  type Issuer,
} from "../../controller/provider/pki.ts";
import { MemoryCaStore } from "../support.ts";

const day = 24 * 3600 * 1000;
const request: CertificateRequest = {
  authority: "orders",
  commonName: "orders-kafka",
  issuer: "ClusterCA",
  dnsNames: [
    "orders-brokers-0.east.orders-kafka-brokers.kafka.svc.clusterset.local",
    "orders-kafka-bootstrap.kafka.svc",
  ],
  ipAddresses: ["203.0.113.7"],
  validityDays: 365,
  renewBeforeDays: 30,
};

test("a node certificate chains to the cluster CA, names every address, and has an RSA PKCS#8 key", async () => {
  const store = new MemoryCaStore();
  const pki = new Pki(store);
  const { cert, key, ca } = await pki.certificate(request);
  const leaf = new X509Certificate(cert);
  const [caPem] = certificatesIn(ca);
  assert.ok(caPem);
  const caCert = new X509Certificate(caPem);
  assert.ok(leaf.verify(caCert.publicKey), "signed by the cluster CA");
  assert.ok(leaf.checkIssued(caCert));
  assert.equal(caCert.ca, true);
  assert.equal(leaf.ca, false);
  assert.equal(
    leaf.subjectAltName,
    "DNS:orders-brokers-0.east.orders-kafka-brokers.kafka.svc.clusterset.local, DNS:orders-kafka-bootstrap.kafka.svc, IP Address:203.0.113.7",
  );
  assert.match(key, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(createPrivateKey(key).asymmetricKeyType, "rsa");
  assert.ok(leaf.checkPrivateKey(createPrivateKey(key)));
  assert.ok(leaf.keyUsage.includes("1.3.6.1.5.5.7.3.1"), "server auth");
  assert.ok(leaf.keyUsage.includes("1.3.6.1.5.5.7.3.2"), "client auth");
  // The CA key stays in the store; the node gets only the CA certificate.
  assert.equal(ca.includes("PRIVATE KEY"), false);
});

test("a CA is created once; the clients CA is a different one", async () => {
  const store = new MemoryCaStore();
  const pki = new Pki(store);
  const a = await pki.bundle("orders", "ClusterCA");
  const b = await pki.bundle("orders", "ClusterCA");
  const c = await pki.bundle("orders", "ClientsCA");
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.equal(store.writes, 2);
});

test("a valid certificate is reused; changed names or a near expiry give a new one", async () => {
  let now = new Date("2027-01-01T00:00:00Z");
  const pki = new Pki(new MemoryCaStore(), () => now);
  const first = await pki.certificate(request);
  const again = await pki.certificate(request, first);
  assert.equal(again.cert, first.cert);
  assert.equal(again.key, first.key);

  assert.equal(again.reissued, undefined);
  const renamed = await pki.certificate({ ...request, dnsNames: ["other.example"] }, first);
  assert.notEqual(renamed.cert, first.cert);
  assert.notEqual(renamed.key, first.key, "a new certificate gets a new key");
  assert.deepEqual(renamed.reissued, {
    why: "the names it must carry changed",
    unreadable: false,
  });

  now = new Date(now.getTime() + 340 * day); // inside the 30-day renewal window
  const renewed = await pki.certificate(request, first);
  assert.notEqual(renewed.cert, first.cert);
  assert.match(renewed.reissued?.why ?? "", /due for renewal/);
  assert.ok(
    new Date(new X509Certificate(renewed.cert).validTo) >
      new Date(new X509Certificate(first.cert).validTo),
  );
});

test("a certificate or key that cannot be read is replaced and said to be unreadable, once", async () => {
  const pki = new Pki(new MemoryCaStore());
  const first = await pki.certificate(request);
  for (const broken of [
    { cert: "not a certificate", key: first.key },
    { cert: first.cert, key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" },
  ]) {
    const replaced = await pki.certificate(request, broken);
    assert.equal(replaced.reissued?.unreadable, true);
    assert.match(replaced.reissued.why, /cannot be read/);
    // What replaced it is kept from then on: no new certificate on every reconcile.
    const kept = await pki.certificate(request, replaced);
    assert.equal(kept.cert, replaced.cert);
    assert.equal(kept.reissued, undefined);
  }
  const other = await new Pki(new MemoryCaStore()).certificate(request);
  assert.deepEqual((await pki.certificate(request, other)).reissued, {
    why: "it is not signed by the current CA",
    unreadable: false,
  });
});

test("a CA rollover keeps trusting the old CA until it expires and re-issues node certificates", async () => {
  let now = new Date("2027-01-01T00:00:00Z");
  const pki = new Pki(new MemoryCaStore(), () => now, {
    caValidityDays: 100,
    caRenewBeforeDays: 20,
  });
  const before = await pki.certificate({ ...request, validityDays: 30, renewBeforeDays: 5 });
  const [oldCa] = certificatesIn(before.ca);
  assert.ok(oldCa);

  now = new Date(now.getTime() + 85 * day); // old CA within its renewal window
  const after = await pki.certificate({ ...request, validityDays: 30, renewBeforeDays: 5 }, before);
  const trusted = certificatesIn(after.ca);
  assert.equal(trusted.length, 2, "new and old CA both trusted");
  const [newCa] = trusted;
  assert.ok(newCa && newCa !== oldCa);
  assert.ok(
    new X509Certificate(after.cert).verify(new X509Certificate(newCa).publicKey),
    "re-issued by the new CA",
  );
  assert.ok(trusted.includes(oldCa), "nodes still on the old CA keep being trusted");

  now = new Date(now.getTime() + 20 * day); // old CA expired
  assert.deepEqual(certificatesIn(await pki.bundle("orders", "ClusterCA")), [newCa]);
});

test("a renewal window as long as the validity cannot make a certificate due when issued", async () => {
  const pki = new Pki(new MemoryCaStore());
  const req = { ...request, validityDays: 1, renewBeforeDays: 1 };
  const first = await pki.certificate(req);
  const again = await pki.certificate(req, first);
  assert.equal(again.cert, first.cert, "reused, not re-minted on every reconcile");
});

test("a CA saved by another writer first is read and used, not overwritten", async () => {
  const store = new MemoryCaStore();
  const theirs = new Pki(new MemoryCaStore());
  const other = await theirs.ca("orders", "ClusterCA");
  let raced = false;
  const save = store.save.bind(store);
  store.save = async (authority: string, issuer: Issuer, ca: CaMaterial, version?: string) => {
    if (!raced) {
      raced = true;
      // Another provider replica wins the race.
      await save(authority, issuer, other, undefined);
      throw new CaConflict("written by someone else");
    }
    return save(authority, issuer, ca, version);
  };
  const ca = await new Pki(store).ca("orders", "ClusterCA");
  assert.equal(ca.cert, other.cert);
  assert.equal(store.writes, 1);
});

test("a refused save (403) is no race: it fails at once, with its cause", async () => {
  const store = new MemoryCaStore();
  let saves = 0;
  const forbidden = new KubeApiError(
    403,
    "Forbidden",
    'secrets is forbidden: User "x" cannot create resource "secrets"',
    {},
    "create Secret stretch-kafka-system/orders-cluster-ca",
  );
  store.save = () => {
    saves++;
    return Promise.reject(forbidden);
  };
  const err = await new Pki(store).ca("orders", "ClusterCA").then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof Error);
  assert.match(err.message, /cannot save the ClusterCA of orders: .*403 Forbidden/);
  assert.equal(err.cause, forbidden);
  assert.equal(saves, 1, "not retried as if another writer had won");
});

test("a KafkaUser's certificate: the clients CA, subject CN=<user> alone, client use only, renewed before expiry", async () => {
  let now = new Date("2027-01-01T00:00:00Z");
  const pki = new Pki(new MemoryCaStore(), () => now);
  const user: CertificateRequest = {
    authority: "orders",
    commonName: "orders-kafka",
    issuer: "ClientsCA",
    usages: ["client"],
    validityDays: 365,
    renewBeforeDays: 30,
  };
  const issued = await pki.certificate(user, undefined, undefined, true);
  const cert = new X509Certificate(issued.cert);
  // Never a node's principal (O=stretch-kafka,CN=orders-kafka), even for this name.
  assert.equal(cert.subject, "CN=orders-kafka");
  assert.ok(cert.verify(new X509Certificate(await pki.bundle("orders", "ClientsCA")).publicKey));
  assert.equal(cert.keyUsage.join(","), "1.3.6.1.5.5.7.3.2", "client authentication only");
  assert.equal((await pki.certificate(user, issued, undefined, true)).cert, issued.cert);
  now = new Date(now.getTime() + 340 * day);
  assert.notEqual((await pki.certificate(user, issued, undefined, true)).cert, issued.cert);
});
