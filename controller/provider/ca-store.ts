/**
 * CAs kept as Secrets in the central cluster, in the provider's namespace:
 * `<authority>-cluster-ca` and `<authority>-clients-ca`. Created with POST and
 * replaced with the read resourceVersion, so two provider replicas never
 * create two CAs for one Kafka cluster.
 */
import type { DynamicClient, KubeObject } from "../kube/dynamic.ts";
import type { CaMaterial, CaStore, Issuer } from "./pki.ts";

interface SecretWithData extends KubeObject {
  data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const text = (s: string | undefined): string =>
  s ? Buffer.from(s, "base64").toString("utf8") : "";

export class CaSecretStore implements CaStore {
  constructor(
    private readonly central: DynamicClient,
    readonly namespace: string,
  ) {}

  secretName(authority: string, issuer: Issuer): string {
    return `${authority}-${issuer === "ClusterCA" ? "cluster" : "clients"}-ca`;
  }

  async load(
    authority: string,
    issuer: Issuer,
  ): Promise<{ ca: CaMaterial; version: string } | undefined> {
    const s = await this.central.find<SecretWithData>(
      "v1",
      "Secret",
      this.secretName(authority, issuer),
      this.namespace,
    );
    if (!s?.data?.["ca.crt"] || !s.data["ca.key"]) return undefined;
    const previous = text(s.data["previous.crt"]);
    return {
      ca: {
        cert: text(s.data["ca.crt"]),
        key: text(s.data["ca.key"]),
        previous: previous
          ? (previous.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ??
            [])
          : [],
      },
      version: s.metadata.resourceVersion ?? "",
    };
  }

  async save(
    authority: string,
    issuer: Issuer,
    ca: CaMaterial,
    version: string | undefined,
  ): Promise<void> {
    const secret: SecretWithData = {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: this.secretName(authority, issuer),
        namespace: this.namespace,
        labels: {
          "app.kubernetes.io/managed-by": "stretch-kafka",
          "stretchkafka.dev/authority": authority,
        },
        ...(version ? { resourceVersion: version } : {}),
      },
      data: {
        "ca.crt": b64(ca.cert),
        "ca.key": b64(ca.key),
        "previous.crt": b64(ca.previous.join("")),
      },
    };
    if (version === undefined) await this.central.create(secret);
    else await this.central.replace(secret);
  }
}
