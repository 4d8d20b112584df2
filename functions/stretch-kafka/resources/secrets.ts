/**
 * Certificate Secrets. Never key material in a spec: the provider mints each
 * node's certificate (signed by the cluster CA of this Kafka cluster's
 * authority) and publishes the CAs' public certificates. A cluster gets only
 * its own nodes' Secrets.
 */
import type { CertificateRequest } from "../../../apis/index.ts";
import { caCertSecret, clientsCaCertSecret, labels } from "../names.ts";
import { remoteMeta, type RemoteObject } from "./remote-object.ts";

export function caCertificates(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  authority: string;
}): RemoteObject[] {
  const ca = (name: string, issuer: "ClusterCA" | "ClientsCA"): RemoteObject =>
    remoteSecret(o.cluster, remoteMeta(o, name), {
      caCertificate: { authority: o.authority, issuer, key: "ca.crt" },
    });
  return [
    ca(caCertSecret(o.kafkaName), "ClusterCA"),
    ca(clientsCaCertSecret(o.kafkaName), "ClientsCA"),
  ];
}

/** The node's certificate Secret: named after the pod, keys <pod>.crt / <pod>.key (Strimzi's image reads them). */
export function nodeCertificate(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  authority: string;
  podName: string;
  dnsNames: string[];
  ipAddresses: string[];
}): RemoteObject {
  const certificate: CertificateRequest = {
    authority: o.authority,
    commonName: `${o.kafkaName}-kafka`,
    issuer: "ClusterCA",
    dnsNames: [...new Set(o.dnsNames)],
    ...(o.ipAddresses.length > 0 ? { ipAddresses: [...new Set(o.ipAddresses)] } : {}),
    usages: ["server", "client"],
    keys: { certificate: `${o.podName}.crt`, privateKey: `${o.podName}.key`, ca: "ca.crt" },
  };
  return remoteSecret(
    o.cluster,
    remoteMeta(o, o.podName, { labels: { [labels.podName]: o.podName } }),
    { certificate },
  );
}

/** An Opaque Secret in the cluster, owned by its anchor, whose data the provider makes. */
function remoteSecret(
  cluster: string,
  metadata: ReturnType<typeof remoteMeta>,
  secret: NonNullable<RemoteObject["secret"]>,
): RemoteObject {
  return {
    cluster,
    kind: "RemoteSecret",
    ownedByAnchor: true,
    manifest: { apiVersion: "v1", kind: "Secret", type: "Opaque", metadata },
    secret,
  };
}
