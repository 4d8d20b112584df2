/**
 * The function's TLS as Crossplane dials it: the server presents tls.crt and
 * tls.key from Crossplane's certificate directory, and every caller must
 * present a client certificate issued by a CA in ca.crt, for client
 * authentication (function-sdk-go: RequireAndVerifyClientCert).
 *
 * Crossplane's client certificate has the same subject as the CA that issues
 * it and no authority key id. OpenSSL, under Node's TLS, takes such a
 * certificate for a self-signed one and refuses it in the handshake
 * (DEPTH_ZERO_SELF_SIGNED_CERT), so the handshake only asks for the
 * certificate, and a caller's calls are answered only if its certificate
 * passes the check Go's crypto/x509 makes: signature by a CA in ca.crt,
 * validity period, the clientAuth usage.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PeerCertificate, TlsOptions } from "node:tls";

/** Options for the TLS server, and the check each caller's client certificate must pass. */
export interface FunctionTls {
  options: TlsOptions;
  /** Why the caller is refused, or undefined when its certificate is one the CA issued. */
  refuse(peer: PeerCertificate | undefined, now?: Date): string | undefined;
}

const clientAuth = "1.3.6.1.5.5.7.3.2";

/** The certificates of a PEM bundle. */
function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** Reads tls.crt, tls.key and ca.crt from `dir` (Crossplane's layout, e.g. /tls/server). */
export function functionTls(dir: string): FunctionTls {
  const read = (f: string): Buffer => {
    try {
      return readFileSync(join(dir, f));
    } catch (cause) {
      throw new Error(
        `cannot read ${f} from ${dir}: give --tls-server-certs-dir, or --insecure for development`,
        { cause },
      );
    }
  };
  const caBundle = read("ca.crt");
  const cas = pemCertificates(caBundle.toString());
  if (cas.length === 0) throw new Error(`${join(dir, "ca.crt")} holds no PEM certificate`);

  const options: TlsOptions = {
    cert: read("tls.crt"),
    key: read("tls.key"),
    ca: caBundle,
    minVersion: "TLSv1.2",
    // gRPC callers (grpc-go among them) require HTTP/2 negotiated by ALPN.
    ALPNProtocols: ["h2"],
    requestCert: true,
    rejectUnauthorized: false,
  };

  const refuse = (peer: PeerCertificate | undefined, now = new Date()): string | undefined => {
    if (!peer?.raw)
      return "no client certificate: Crossplane presents the one of its crossplane-tls-client Secret";
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(peer.raw);
    } catch (err) {
      return `unreadable client certificate: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo))
      return `client certificate ${cert.subject.replaceAll("\n", ", ")} is valid only from ${cert.validFrom} to ${cert.validTo}`;
    // Node types it as always there; it is undefined when the certificate has
    // no extended key usage, which Go reads as any usage.
    const usages = cert.keyUsage as readonly string[] | undefined;
    if (usages !== undefined && !usages.includes(clientAuth))
      return "client certificate is not for client authentication (extended key usage)";
    const issuer = cas.find(
      (ca) => ca.ca && cert.issuer === ca.subject && cert.verify(ca.publicKey),
    );
    if (!issuer)
      return `client certificate of ${cert.subject.replaceAll("\n", ", ")} is not issued by a CA in ca.crt`;
    return undefined;
  };
  return { options, refuse };
}
