/**
 * Certificates made the way Crossplane's TLS certificate generator makes them
 * (internal/initializer/tls.go and cert_generator.go in Crossplane v2): an
 * RSA-2048 root CA, and leaves signed by it that carry the CA's own subject
 * and no authority key id (Go leaves it out when subject and issuer are the
 * same name). The test bed plays Crossplane's package runtime with these: it
 * issues the function's server certificate from crossplane-root-ca, and tests
 * of the function's TLS use a client certificate like crossplane-tls-client.
 */
import "reflect-metadata";
import { createPrivateKey, webcrypto } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Crossplane's pkixName, in the order Go writes its RDNs. */
const crossplaneName = "C=Earth, ST=Earth, L=Earth, O=Crossplane, CN=Crossplane";
const rsa = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const year = 365 * 24 * 3600_000;

export interface Pem {
  cert: string;
  key: string;
}

/** PKCS#1 PEM ("RSA PRIVATE KEY"), as Crossplane writes its keys. */
async function pkcs1(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" })
    .export({ type: "pkcs1", format: "pem" })
    .toString();
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(rsa, true, ["sign", "verify"]);
}

/** A root CA like crossplane-root-ca (`tls.crt`, `tls.key`). */
export async function crossplaneRootCa(): Promise<Pem> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "07e6",
    name: crossplaneName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 10 * year),
    keys,
    signingAlgorithm: rsa,
    extensions: [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      new x509.BasicConstraintsExtension(true, undefined, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "crossplane-root-ca" }]),
    ],
  });
  return {
    cert: cert.toString("pem") + "\n",
    key: await pkcs1(keys.privateKey),
  };
}

/**
 * A leaf the way Crossplane issues crossplane-tls-client (usage "client") or a
 * runtime's server certificate (usage "server"): the CA's subject, no
 * authority key id.
 */
export async function crossplaneLeaf(
  ca: Pem,
  usage: "client" | "server",
  names: { dns?: string[]; ip?: string[] },
): Promise<Pem> {
  const keys = await keyPair();
  const caKey = await webcrypto.subtle.importKey(
    "pkcs8",
    createPrivateKey(ca.key).export({ type: "pkcs8", format: "der" }),
    rsa,
    false,
    ["sign"],
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "07e6",
    subject: crossplaneName,
    issuer: new x509.X509Certificate(ca.cert).subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 10 * year),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: rsa,
    extensions: [
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyEncipherment |
          x509.KeyUsageFlags.dataEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        usage === "client" ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth,
      ]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension([
        ...(names.dns ?? []).map((value) => ({ type: "dns" as const, value })),
        ...(names.ip ?? []).map((value) => ({ type: "ip" as const, value })),
      ]),
    ],
  });
  return {
    cert: cert.toString("pem") + "\n",
    key: await pkcs1(keys.privateKey),
  };
}

/** Writes `tls.crt`, `tls.key` and `ca.crt` into `dir`, the layout Crossplane mounts. */
export function writeTlsDir(dir: string, leaf: Pem, caCert: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tls.crt"), leaf.cert);
  writeFileSync(join(dir, "tls.key"), leaf.key, { mode: 0o600 });
  writeFileSync(join(dir, "ca.crt"), caCert);
  return dir;
}
