/**
 * The managed-resource kinds as data: which remote kind each manages, when the
 * remote object counts as ready, and what of it is copied into
 * status.atProvider (what users need; never managedFields, never key material).
 */
import { X509Certificate } from "node:crypto";
import { annotations, kafkaApiVersion, labels, managedKinds } from "../../apis/index.ts";
import type { KubeObject } from "../kube/dynamic.ts";
import { stamped } from "./desired.ts";

export type ManagedKindName = (typeof managedKinds)[number]["kind"];

/** A remote object in the managed resource's namespace. */
export interface RemoteRef {
  apiVersion: string;
  kind: string;
  name: string;
}

/** Something that must be there before an object is applied. */
export interface Need extends RemoteRef {
  /** Why the object, though it exists, cannot be relied on yet. */
  unusable?(obj: KubeObject): string | undefined;
}

/** Remote objects readiness looks at, by `Kind/name`. */
export type Related = ReadonlyMap<string, KubeObject | undefined>;
export const relatedKey = (r: { kind: string; name: string }): string => `${r.kind}/${r.name}`;

interface KindBehaviour {
  /** Why the remote object is not ready yet, or undefined when it is. */
  notReady(obj: KubeObject, related: Related): string | undefined;
  /** Kind-specific fields of status.atProvider. */
  atProvider(obj: KubeObject, related: Related): Record<string, unknown>;
  /**
   * What must be there (in the manifest's namespace) before this object is
   * applied, in dependency order: applying it earlier would be refused, or
   * (a podset before Strimzi has seen its Kafka CR) ignored by whoever acts
   * on it. A string: the manifest can never work, and why.
   */
  needs?(manifest: KubeObject): Need[] | string;
  /** Other remote objects whose state decides readiness (a podset's pods). */
  related?(manifest: KubeObject): RemoteRef[];
  /**
   * What the remote operator has failed to do, if anything (pods a podset
   * lists that do not exist). Said for longer than a grace period, the
   * provider touches the object so that the operator looks at it again.
   */
  stalled?(obj: KubeObject, related: Related): string | undefined;
  /** The manifest with our label on the objects it makes (a podset's pods), which the cache selects on too. */
  stampNested?: (manifest: KubeObject) => KubeObject;
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

interface PodEntry extends KubeObject {
  spec?: {
    serviceAccountName?: string;
    volumes?: {
      configMap?: { name?: string; optional?: boolean };
      secret?: { secretName?: string; optional?: boolean };
      persistentVolumeClaim?: { claimName?: string };
    }[];
  };
}

const podsOf = (podSet: KubeObject): PodEntry[] =>
  ((podSet["spec"] as { pods?: PodEntry[] } | undefined)?.pods ?? []).filter(
    (p) => p.metadata.name,
  );

const revisionOf = (o: KubeObject | undefined): string =>
  o?.metadata.annotations?.[annotations.revision] ?? "";

/** Whether the kubelet reports a pod Ready. */
export const podReady = (p: KubeObject): boolean =>
  (
    (p["status"] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ??
    []
  ).some((c) => c.type === "Ready" && c.status === "True");

/** Each pod a podset lists, with the live pod of that name if the watch has one. */
function listedPods(podSet: KubeObject, pods: Related): { want: PodEntry; pod?: KubeObject }[] {
  return podsOf(podSet).map((want) => {
    const pod = pods.get(relatedKey({ kind: "Pod", name: want.metadata.name ?? "" }));
    return pod ? { want, pod } : { want };
  });
}

/** What Strimzi writes on a paused Kafka CR once it has seen it (AbstractOperator). */
function unseenByStrimzi(kafka: KubeObject): string | undefined {
  const conditions =
    (kafka["status"] as { conditions?: { type: string; status: string }[] } | undefined)
      ?.conditions ?? [];
  return conditions.some(
    (c) => (c.type === "ReconciliationPaused" || c.type === "Ready") && c.status === "True",
  )
    ? undefined
    : "the Strimzi operator has not shown it has seen it (no ReconciliationPaused condition yet)";
}

/** Why a node's certificate Secret does not yet name every one of `names`. */
function certificateLacks(secret: KubeObject, pod: string, names: string[]): string | undefined {
  const pem = (secret["data"] as Record<string, string> | undefined)?.[`${pod}.crt`];
  if (!pem) return `it has no ${pod}.crt yet`;
  let san: string;
  try {
    san = new X509Certificate(Buffer.from(pem, "base64")).subjectAltName ?? "";
  } catch {
    return `its ${pod}.crt is not a certificate`;
  }
  const has = new Set(san.split(", ").map((e) => e.replace(/^(DNS|IP Address):/, "")));
  const missing = names.filter((n) => !has.has(n));
  return missing.length > 0 ? `its certificate does not name ${missing.join(", ")} yet` : undefined;
}

/**
 * A podset's needs: the Kafka CR Strimzi looks its podsets up by (a podset
 * event arriving before Strimzi has the CR is dropped until its resync,
 * minutes later), then what its pods use: ServiceAccount, ConfigMaps,
 * Secrets, PersistentVolumeClaims.
 */
function podSetNeeds(m: KubeObject): Need[] | string {
  const l = m.metadata.labels ?? {};
  const cluster = l[labels.cluster];
  const crKind = l[labels.kind];
  if (!cluster || !crKind)
    return "the StrimziPodSet lacks the labels strimzi.io/cluster and strimzi.io/kind; Strimzi ignores such podsets, so its pods would never be created";
  const needs = new Map<string, Need>();
  const add = (n: Need): void => {
    needs.set(relatedKey(n), n);
  };
  add({
    apiVersion: crKind === "Kafka" ? kafkaApiVersion(m.apiVersion) : m.apiVersion,
    kind: crKind,
    name: cluster,
    unusable: unseenByStrimzi,
  });
  for (const pod of podsOf(m)) {
    const names = pod.metadata.annotations?.[annotations.certificateNames];
    if (names)
      add({
        apiVersion: "v1",
        kind: "Secret",
        name: pod.metadata.name ?? "",
        unusable: (secret) => certificateLacks(secret, pod.metadata.name ?? "", names.split(",")),
      });
    const account = pod.spec?.serviceAccountName;
    if (account) add({ apiVersion: "v1", kind: "ServiceAccount", name: account });
    for (const v of pod.spec?.volumes ?? []) {
      if (v.configMap?.name && !v.configMap.optional)
        add({ apiVersion: "v1", kind: "ConfigMap", name: v.configMap.name });
      if (v.secret?.secretName && !v.secret.optional)
        add({ apiVersion: "v1", kind: "Secret", name: v.secret.secretName });
      if (v.persistentVolumeClaim?.claimName)
        add({
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          name: v.persistentVolumeClaim.claimName,
        });
    }
  }
  return [...needs.values()];
}

/**
 * Ready only from what is really there: every listed pod exists, is not
 * terminating, is Ready and runs the podset's current revision, and Strimzi
 * has reconciled the current generation. Podset status alone can lie: Strimzi
 * writes it only when it reconciles, and leaves it stale otherwise.
 */
function podSetNotReady(o: KubeObject, pods: Related): string | undefined {
  const s = statusOf(o) as { observedGeneration?: number } | undefined;
  if (!s || (s.observedGeneration ?? 0) < (o.metadata.generation ?? 0))
    return "the remote Strimzi operator has not reconciled it yet";
  const wanted = listedPods(o, pods);
  const problems: string[] = [];
  for (const { want, pod } of wanted) {
    const name = want.metadata.name ?? "";
    if (!pod) problems.push(`pod ${name} does not exist`);
    else if (pod.metadata.deletionTimestamp) problems.push(`pod ${name} is terminating`);
    else if (!podReady(pod)) problems.push(`pod ${name} is not Ready`);
    else if (revisionOf(pod) !== revisionOf(want))
      problems.push(
        `pod ${name} runs revision ${revisionOf(pod) || "none"}, not ${revisionOf(want)}`,
      );
  }
  if (problems.length === 0) return undefined;
  return `${wanted.length - problems.length} of ${wanted.length} pods ready: ${problems.join("; ")}`;
}

/** A Service's or an Ingress's status.loadBalancer.ingress, as the remote cluster wrote it. */
function loadBalancerIngress(o: KubeObject): { ip?: string; hostname?: string }[] {
  const ingress =
    (
      statusOf(o)?.["loadBalancer"] as
        { ingress?: { ip?: string; hostname?: string }[] } | undefined
    )?.ingress ?? [];
  return ingress.map((i) => ({
    ...(i.ip ? { ip: i.ip } : {}),
    ...(i.hostname ? { hostname: i.hostname } : {}),
  }));
}

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
  RemotePodDisruptionBudget: {
    notReady: () => undefined,
    atProvider: (o) => {
      const st = statusOf(o) as
        { currentHealthy?: number; disruptionsAllowed?: number } | undefined;
      return {
        ...(st?.currentHealthy !== undefined ? { currentHealthy: st.currentHealthy } : {}),
        ...(st?.disruptionsAllowed !== undefined
          ? { disruptionsAllowed: st.disruptionsAllowed }
          : {}),
      };
    },
  },
  RemotePodMonitor: exists,
  RemotePrometheusRule: exists,
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
      return spec?.type === "LoadBalancer" && loadBalancerIngress(o).length === 0
        ? "the load balancer has no address yet"
        : undefined;
    },
    atProvider: (o) => {
      const spec = (o["spec"] ?? {}) as {
        clusterIP?: string;
        ports?: { name?: string; port: number; nodePort?: number }[];
      };
      const ingress = loadBalancerIngress(o);
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
  RemoteIngress: {
    notReady: (o) =>
      loadBalancerIngress(o).length === 0
        ? "the ingress controller has not given it an address yet"
        : undefined,
    atProvider: (o) => {
      const ingress = loadBalancerIngress(o);
      return ingress.length > 0 ? { loadBalancerIngress: ingress } : {};
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
    needs: podSetNeeds,
    related: (m) =>
      podsOf(m).map((p) => ({ apiVersion: "v1", kind: "Pod", name: p.metadata.name ?? "" })),
    notReady: podSetNotReady,
    stampNested: (m) => ({
      ...m,
      spec: {
        ...(m["spec"] as Record<string, unknown>),
        pods: ((m["spec"] as { pods?: KubeObject[] } | undefined)?.pods ?? []).map((p) => ({
          ...p,
          metadata: stamped(p.metadata),
        })),
      },
    }),
    stalled: (o, pods) => {
      const missing = listedPods(o, pods)
        .filter((x) => !x.pod)
        .map((x) => x.want.metadata.name ?? "");
      return missing.length > 0 ? `pod(s) ${missing.join(", ")} missing` : undefined;
    },
    // Counted from the pods themselves, as readiness is: Strimzi's own
    // counts can be stale (docs/adr/0006).
    atProvider: (o, pods) => {
      const wanted = listedPods(o, pods);
      const live = wanted.filter((x) => x.pod && !x.pod.metadata.deletionTimestamp);
      const s = (statusOf(o) ?? {}) as { observedGeneration?: number };
      return {
        ...(s.observedGeneration !== undefined ? { observedGeneration: s.observedGeneration } : {}),
        pods: wanted.length,
        readyPods: live.filter((x) => x.pod && podReady(x.pod)).length,
        currentPods: live.filter((x) => revisionOf(x.pod) === revisionOf(x.want)).length,
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

/**
 * status.atProvider of a remote object: identity plus the kind's fields. Not
 * its resourceVersion, which no reader needs and which changes with every
 * write to the remote object (its operator's status included): each change
 * would be a write here, and a watch event Crossplane's XR circuit breaker
 * counts (ADR 0017).
 */
export function atProviderOf(
  kind: ManagedKind,
  remote: KubeObject,
  related: Related = new Map(),
): Record<string, unknown> {
  return {
    ...(remote.metadata.uid ? { uid: remote.metadata.uid } : {}),
    ...kind.behaviour.atProvider(remote, related),
  };
}
