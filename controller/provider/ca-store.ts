/**
 * CAs kept as Secrets in the central cluster, in the provider's namespace:
 * `<authority>-cluster-ca` and `<authority>-clients-ca`. Created with POST and
 * replaced with the read resourceVersion, so two provider replicas never
 * create two CAs for one Kafka cluster. What was read or written is reused
 * for a few seconds: every node certificate needs its CA, and reading the
 * Secret for each one was most of the provider's reads.
 */
import {
  KubeApiError,
  type DynamicClient,
  type KubeObject,
  type OwnerReference,
} from "../kube/dynamic.ts";
import { labels } from "../../apis/index.ts";
import { CaConflict, type CaMaterial, type CaStore, type Issuer } from "./pki.ts";

interface SecretWithData extends KubeObject {
  data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const text = (s: string | undefined): string =>
  s ? Buffer.from(s, "base64").toString("utf8") : "";

/** The Secret an authority's CA is kept in (`stretch-kafka backup` copies both). */
export function caSecretName(authority: string, issuer: Issuer): string {
  return `${authority}-${issuer === "ClusterCA" ? "cluster" : "clients"}-ca`;
}

type Loaded = { ca: CaMaterial; version: string } | undefined;

export class CaSecretStore implements CaStore {
  private readonly recent = new Map<string, { value: Loaded; at: number }>();

  constructor(
    private readonly central: DynamicClient,
    readonly namespace: string,
    /** How long a read or write is reused; 0 reads every time. */
    private readonly reuseMs = 5000,
  ) {}

  secretName(authority: string, issuer: Issuer): string {
    return caSecretName(authority, issuer);
  }

  async load(authority: string, issuer: Issuer): Promise<Loaded> {
    const key = this.secretName(authority, issuer);
    const hit = this.recent.get(key);
    if (hit && Date.now() - hit.at < this.reuseMs) return hit.value;
    const value = await this.read(authority, issuer);
    this.recent.set(key, { value, at: Date.now() });
    return value;
  }

  private async read(authority: string, issuer: Issuer): Promise<Loaded> {
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
    owner?: OwnerReference,
  ): Promise<void> {
    const secret: SecretWithData = {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: this.secretName(authority, issuer),
        namespace: this.namespace,
        labels: {
          [labels.managedBy]: "stretch-kafka",
          [labels.authority]: authority,
        },
        ...(version ? { resourceVersion: version } : {}),
        // Not a controller: the composite only takes the CAs with it when it goes.
        ...(owner
          ? { ownerReferences: [{ ...owner, controller: false, blockOwnerDeletion: false }] }
          : {}),
      },
      data: {
        "ca.crt": b64(ca.cert),
        "ca.key": b64(ca.key),
        "previous.crt": b64(ca.previous.join("")),
      },
    };
    const key = this.secretName(authority, issuer);
    try {
      const written =
        version === undefined
          ? await this.central.create(secret)
          : await this.central.replace(secret);
      this.recent.set(key, {
        value: { ca, version: written.metadata.resourceVersion ?? "" },
        at: Date.now(),
      });
    } catch (err) {
      // Whatever happened, the next load must read what is there.
      this.recent.delete(key);
      // 409: AlreadyExists on create, Conflict on replace: someone else wrote first.
      if (err instanceof KubeApiError && err.code === 409)
        throw new CaConflict(`${key} was written by someone else`, { cause: err });
      throw err;
    }
  }
}
