/**
 * The managed-resource kinds as data: which remote kind each manages, when the
 * remote object counts as ready, and what of it is copied into
 * status.atProvider (what users need; never managedFields, never key material).
 */
import { X509Certificate } from "node:crypto";
import { managedKinds } from "../../apis/index.ts";
import type { KubeObject } from "../kube/dynamic.ts";

export type ManagedKindName = (typeof managedKinds)[number]["kind"];

interface KindBehaviour {
  /** Why the remote object is not ready yet, or undefined when it is. */
  notReady(obj: KubeObject): string | undefined;
  /** Kind-specific fields of status.atProvider. */
  atProvider(obj: KubeObject): Record<string, unknown>;
  /**
   * Remote objects (in the manifest's namespace) that must exist before this
   * one is applied: applying it earlier would only be refused.
   */
  needs?(manifest: KubeObject): { apiVersion: string; kind: string; name: string }[];
}

type Status = Record<string, unknown> | undefined;

/** Serial, validity and issuer of a certificate (base64 PEM), for status. */
function certificateInfo(certB64: string, caB64: string | undefined): Record<string, string> {
  try {
    const cert = new X509Certificate(Buffer.from(certB64, "base64"));
    const ca = caB64 ? new X509Certificate(Buffer.from(caB64, "base64")) : undefined;
    const iso = (d: string): string => new Date(d).toISOString().replace(/\.\d+Z$/, "Z");
    return {
      serialNumber: cert.serialNumber,
      notBefore: iso(cert.validFrom),
      notAfter: iso(cert.validTo),
      ...(ca ? { issuerFingerprint: ca.fingerprint256 } : {}),
    };
  } catch {
    // Not a certificate this provider minted: nothing to report about it.
    return {};
  }
}
const statusOf = (o: KubeObject): Status => o["status"] as Status;

const exists: KindBehaviour = { notReady: () => undefined, atProvider: () => ({}) };

const behaviours: Record<ManagedKindName, KindBehaviour> = {
  RemoteConfigMap: exists,
  RemoteServiceAccount: exists,
  RemoteRole: exists,
  RemoteRoleBinding: {
    ...exists,
    // The API server checks a binding's Role when it is created (a binder must
    // hold what it grants) and answers 404 while the Role does not exist.
    needs: (m) => {
      const ref = m["roleRef"] as { kind?: string; name?: string } | undefined;
      return ref?.kind === "Role" && ref.name
        ? [{ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", name: ref.name }]
        : [];
    },
  },
  RemoteNetworkPolicy: exists,
  RemoteKafka: exists,
  RemoteSecret: {
    notReady: () => undefined,
    // Key names and the certificate's identity only: values never leave the remote
    // Secret, except a CA's public certificates when they are all it holds (what
    // clients must trust; the composite's connection Secret carries them).
    atProvider: (o) => {
      const data = (o["data"] as Record<string, string> | undefined) ?? {};
      const keys = Object.keys(data).sort();
      const crt = keys.find((k) => k.endsWith(".crt") && k !== "ca.crt");
      const cert = crt ? data[crt] : undefined;
      const caOnly = keys.length === 1 && keys[0] === "ca.crt" ? data["ca.crt"] : undefined;
      return {
        keys,
        ...(cert ? { certificate: certificateInfo(cert, data["ca.crt"]) } : {}),
        ...(caOnly ? { caCertificate: Buffer.from(caOnly, "base64").toString("utf8") } : {}),
      };
    },
  },
  RemoteService: {
    notReady: (o) => {
      const spec = o["spec"] as { type?: string } | undefined;
      const ingress =
        (statusOf(o)?.["loadBalancer"] as { ingress?: unknown[] } | undefined)?.ingress ?? [];
      return spec?.type === "LoadBalancer" && ingress.length === 0
        ? "the load balancer has no address yet"
        : undefined;
    },
    atProvider: (o) => {
      const spec = (o["spec"] ?? {}) as {
        clusterIP?: string;
        ports?: { name?: string; port: number; nodePort?: number }[];
      };
      const ingress = (
        (
          statusOf(o)?.["loadBalancer"] as
            { ingress?: { ip?: string; hostname?: string }[] } | undefined
        )?.ingress ?? []
      ).map((i) => ({
        ...(i.ip ? { ip: i.ip } : {}),
        ...(i.hostname ? { hostname: i.hostname } : {}),
      }));
      return {
        ...(spec.clusterIP ? { clusterIP: spec.clusterIP } : {}),
        ports: (spec.ports ?? []).map((p) => ({
          ...(p.name ? { name: p.name } : {}),
          port: p.port,
          ...(p.nodePort ? { nodePort: p.nodePort } : {}),
        })),
        ...(ingress.length > 0 ? { loadBalancerIngress: ingress } : {}),
      };
    },
  },
  RemoteServiceExport: {
    notReady: () => undefined,
    atProvider: (o) => ({
      conditions: statusOf(o)?.["conditions"] ?? [],
    }),
  },
  RemotePersistentVolumeClaim: {
    // A claim waiting for its pod (WaitForFirstConsumer) is as ready as it can be.
    notReady: () => undefined,
    atProvider: (o) => {
      const s = statusOf(o) as { phase?: string; capacity?: { storage?: string } } | undefined;
      return {
        ...(s?.phase ? { phase: s.phase } : {}),
        ...(s?.capacity?.storage ? { capacity: s.capacity.storage } : {}),
      };
    },
  },
  RemoteStrimziPodSet: {
    notReady: (o) => {
      const s = statusOf(o) as
        { observedGeneration?: number; pods?: number; readyPods?: number } | undefined;
      const pods = ((o["spec"] as { pods?: unknown[] } | undefined)?.pods ?? []).length;
      if (!s || (s.observedGeneration ?? 0) < (o.metadata.generation ?? 0))
        return "the remote Strimzi operator has not reconciled it yet";
      if ((s.readyPods ?? 0) < pods) return `${s.readyPods ?? 0} of ${pods} pods ready`;
      return undefined;
    },
    atProvider: (o) => {
      const s = (statusOf(o) ?? {}) as {
        observedGeneration?: number;
        pods?: number;
        readyPods?: number;
        currentPods?: number;
      };
      return {
        ...(s.observedGeneration !== undefined ? { observedGeneration: s.observedGeneration } : {}),
        pods: s.pods ?? 0,
        readyPods: s.readyPods ?? 0,
        currentPods: s.currentPods ?? 0,
      };
    },
  },
};

export interface ManagedKind {
  kind: ManagedKindName;
  group: string;
  version: string;
  apiVersion: string;
  remoteKind: string;
  remoteApiVersions: readonly string[];
  behaviour: KindBehaviour;
}

export const kinds: ManagedKind[] = managedKinds.map((k) => ({
  kind: k.kind,
  group: k.group,
  version: k.version,
  apiVersion: `${k.group}/${k.version}`,
  remoteKind: k.remote.kind,
  remoteApiVersions: k.remote.apiVersions,
  behaviour: behaviours[k.kind],
}));

export function kindOf(name: string): ManagedKind | undefined {
  return kinds.find((k) => k.kind === name);
}

/** status.atProvider of a remote object: identity plus the kind's fields. */
export function atProviderOf(kind: ManagedKind, remote: KubeObject): Record<string, unknown> {
  return {
    ...(remote.metadata.uid ? { uid: remote.metadata.uid } : {}),
    ...(remote.metadata.resourceVersion
      ? { resourceVersion: remote.metadata.resourceVersion }
      : {}),
    ...kind.behaviour.atProvider(remote),
  };
}
