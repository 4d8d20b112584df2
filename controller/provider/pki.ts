/**
 * The PKI: per authority (one per Kafka cluster) a cluster CA and a clients
 * CA, created once and kept in the central cluster, whose keys never leave
 * it; node certificates minted on request with a fresh RSA key in PKCS#8 (the
 * Strimzi Kafka agent accepts nothing else), reused while valid and matching,
 * renewed before expiry. A CA near its end is rolled over: the new one signs,
 * both are trusted until the old one expires, and node certificates signed by
 * the old one are re-issued.
 */
// @peculiar/x509's dependency container needs the Reflect metadata API first.
import "reflect-metadata";
import { createPrivateKey, webcrypto, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { Logger } from "pino";
import type { CertificateRequest } from "../../apis/index.ts";
import type { OwnerReference } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type Issuer = "ClusterCA" | "ClientsCA";

export interface CaMaterial {
  /** PEM of the CA certificate that signs. */
  cert: string;
  /** PKCS#8 PEM of its key. */
  key: string;
  /** PEMs of earlier CA certificates still trusted (rollover). */
  previous: string[];
}

/** A CA was written by someone else since it was loaded: load theirs and decide again. */
export class CaConflict extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CaConflict";
  }
}

/** Where CAs live: the central cluster (see CaSecretStore). */
export interface CaStore {
  load(authority: string, issuer: Issuer): Promise<{ ca: CaMaterial; version: string } | undefined>;
  /**
   * Creates (version undefined) or replaces; rejects with CaConflict when
   * someone else wrote first, and with the cause for anything else.
   */
  save(
    authority: string,
    issuer: Issuer,
    ca: CaMaterial,
    version: string | undefined,
    owner?: OwnerReference,
  ): Promise<void>;
}

/** Why an existing certificate was replaced. */
export interface Reissue {
  why: string;
  /** The existing certificate or key could not be read at all (someone wrote something else there). */
  unreadable: boolean;
}

/** A certificate, its key and the CA bundle; `reissued` when an existing one was replaced, and why. */
export interface Issued {
  cert: string;
  key: string;
  ca: string;
  reissued?: Reissue;
}

export interface PkiOptions {
  caValidityDays: number;
  caRenewBeforeDays: number;
}

export const defaultPkiOptions: PkiOptions = { caValidityDays: 5 * 365, caRenewBeforeDays: 60 };

const day = 24 * 3600 * 1000;

const ecdsa = { name: "ECDSA", namedCurve: "P-256" };
const rsa = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Splits a PEM bundle into its certificates. */
export function certificatesIn(bundle: string): string[] {
  return (
    bundle
      .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)
      ?.map((c) => (c.endsWith("\n") ? c : `${c}\n`)) ?? []
  );
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "7");
}

export class Pki {
  constructor(
    private readonly store: CaStore,
    private readonly now: () => Date = () => new Date(),
    private readonly opts: PkiOptions = defaultPkiOptions,
  ) {}

  private async newCa(authority: string, issuer: Issuer): Promise<{ cert: string; key: string }> {
    const keys = await webcrypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]);
    const notBefore = new Date(this.now().getTime() - 3600_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${authority} ${issuer === "ClusterCA" ? "cluster" : "clients"} CA, O=stretch-kafka`,
      notBefore,
      notAfter: new Date(notBefore.getTime() + this.opts.caValidityDays * day),
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return {
      cert: cert.toString("pem") + "\n",
      key: pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
    };
  }

  /**
   * The CA of an authority: created on first use, rolled over near its end.
   * `owner` (the composite the authority belongs to) owns the stored CA, so
   * that deleting the composite lets the garbage collector remove its CAs.
   */
  async ca(authority: string, issuer: Issuer, owner?: OwnerReference): Promise<CaMaterial> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const found = await this.store.load(authority, issuer);
      const now = this.now().getTime();
      const live = (found?.ca.previous ?? []).filter(
        (p) => new Date(new X509Certificate(p).validTo).getTime() > now,
      );
      if (found) {
        const expires = new Date(new X509Certificate(found.ca.cert).validTo).getTime();
        const pruned = live.length !== found.ca.previous.length;
        if (expires - now > this.opts.caRenewBeforeDays * day && !pruned) return found.ca;
        const next: CaMaterial =
          expires - now > this.opts.caRenewBeforeDays * day
            ? { ...found.ca, previous: live }
            : { ...(await this.newCa(authority, issuer)), previous: [found.ca.cert, ...live] };
        if (await this.saved(authority, issuer, next, found.version, owner)) return next;
        continue; // another writer won; read theirs
      }
      const fresh: CaMaterial = { ...(await this.newCa(authority, issuer)), previous: [] };
      if (await this.saved(authority, issuer, fresh, undefined, owner)) return fresh;
    }
    throw new Error(
      `cannot create or update the ${issuer} of ${authority}: concurrent writers kept winning`,
    );
  }

  /**
   * Saves a CA; false when another writer won (the caller reads theirs).
   * Anything else (a 403, an unreachable API server) is no race to retry: it
   * is thrown with its cause.
   */
  private async saved(
    authority: string,
    issuer: Issuer,
    ca: CaMaterial,
    version: string | undefined,
    owner: OwnerReference | undefined,
  ): Promise<boolean> {
    try {
      await this.store.save(authority, issuer, ca, version, owner);
      return true;
    } catch (err) {
      if (err instanceof CaConflict) return false;
      throw new Error(`cannot save the ${issuer} of ${authority}: ${describeError(err)}`, {
        cause: err,
      });
    }
  }

  /** Every CA certificate to trust: the signing one and those still in rollover. */
  async bundle(authority: string, issuer: Issuer, owner?: OwnerReference): Promise<string> {
    const ca = await this.ca(authority, issuer, owner);
    return [ca.cert, ...ca.previous].join("");
  }

  /**
   * Why an existing certificate cannot stay, or undefined when it can: same
   * names, signed by the current CA, its key matching, not due for renewal.
   * One that cannot be read at all is said so (`unreadable`), never taken
   * silently for one to renew.
   */
  whyNotReusable(
    existing: { cert: string; key: string },
    req: CertificateRequest,
    ca: CaMaterial,
  ): Reissue | undefined {
    let c: X509Certificate;
    let key: ReturnType<typeof createPrivateKey>;
    try {
      c = new X509Certificate(existing.cert);
      key = createPrivateKey(existing.key);
    } catch (err) {
      return {
        why: `the existing certificate or key cannot be read (${describeError(err)})`,
        unreadable: true,
      };
    }
    // The CA was read when it was loaded (ca()); a CA that cannot be read fails there.
    if (!c.verify(new X509Certificate(ca.cert).publicKey))
      return { why: "it is not signed by the current CA", unreadable: false };
    // Never more than half the validity: a certificate must not be due when issued.
    const renewBefore = Math.min(req.renewBeforeDays ?? 30, (req.validityDays ?? 365) / 2) * day;
    if (new Date(c.validTo).getTime() - renewBefore <= this.now().getTime())
      return { why: `it is due for renewal (valid to ${c.validTo})`, unreadable: false };
    if (!c.checkPrivateKey(key))
      return { why: "its key does not match the certificate", unreadable: false };
    const want = [
      ...(req.dnsNames ?? []).map((d) => `DNS:${d}`),
      ...(req.ipAddresses ?? []).map((i) => `IP Address:${i}`),
    ].sort();
    const have = (c.subjectAltName ?? "").split(", ").filter(Boolean).sort();
    if (!c.subject.includes(`CN=${req.commonName}`))
      return { why: `its subject is not CN=${req.commonName}`, unreadable: false };
    if (JSON.stringify(want) !== JSON.stringify(have))
      return { why: "the names it must carry changed", unreadable: false };
    return undefined;
  }

  /**
   * A node's certificate and key: the existing pair if reusable, else a new
   * one. `user`: a KafkaUser's, whose subject is CN=<name> alone (Kafka's
   * principal User:CN=<name>, never one of the nodes' CN=...,O=stretch-kafka).
   */
  async certificate(
    req: CertificateRequest,
    existing?: { cert: string; key: string },
    owner?: OwnerReference,
    user = false,
  ): Promise<Issued> {
    const issuer = req.issuer;
    const ca = await this.ca(req.authority, issuer, owner);
    const bundle = [ca.cert, ...ca.previous].join("");
    const reissued = existing ? this.whyNotReusable(existing, req, ca) : undefined;
    if (existing && !reissued) return { cert: existing.cert, key: existing.key, ca: bundle };

    const keys = await webcrypto.subtle.generateKey(rsa, true, ["sign", "verify"]);
    const caCert = new x509.X509Certificate(ca.cert);
    const caKey = await webcrypto.subtle.importKey(
      "pkcs8",
      createPrivateKey(ca.key).export({ type: "pkcs8", format: "der" }),
      ecdsa,
      false,
      ["sign"],
    );
    const usages = req.usages ?? ["server", "client"];
    const notBefore = new Date(this.now().getTime() - 3600_000);
    const notAfter = new Date(
      Math.min(
        notBefore.getTime() + (req.validityDays ?? 365) * day,
        new Date(caCert.notAfter).getTime(),
      ),
    );
    const names = [
      ...(req.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(req.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: user ? `CN=${req.commonName}` : `CN=${req.commonName}, O=stretch-kafka`,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          ...(usages.includes("server") ? [x509.ExtendedKeyUsage.serverAuth] : []),
          ...(usages.includes("client") ? [x509.ExtendedKeyUsage.clientAuth] : []),
        ]),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
        await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      ],
    });
    return {
      cert: cert.toString("pem") + "\n",
      key: pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
      ca: bundle,
      ...(reissued ? { reissued } : {}),
    };
  }
}

/** Logs why a certificate was replaced: a warning when what was there could not be read. */
export function logReissue(log: Logger, issued: Issued, what: Record<string, unknown>): void {
  if (!issued.reissued) return;
  if (issued.reissued.unreadable)
    log.warn(
      { ...what, why: issued.reissued.why },
      "certificate replaced: the old one was unreadable",
    );
  else log.info({ ...what, why: issued.reissued.why }, "certificate renewed");
}
