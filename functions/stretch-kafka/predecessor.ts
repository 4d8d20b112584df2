/**
 * A claim deleted and created again at once: Crossplane lets the old
 * composite go while its managed resources finish deleting (their remote
 * objects go first, the provider keeps data volumes), and the new composite
 * would compose the same remote objects beside them. Two composites of one
 * claim must never overlap: they name the same anchor ConfigMap in each
 * cluster (its old entry waits for every entry naming it, the new ones
 * included; the new ones are refused while the old one manages it), and the
 * new one would choose its Kafka cluster id before the kept volumes are
 * recorded (ADR 0026). So a composite that has composed nothing yet requires
 * its claim's managed resources by the claim's labels, and composes nothing
 * while any of them belongs to another composite. Crossplane (v2.4 on) and
 * the standalone engine reconcile a composite again whenever something it
 * required changes, so the last one going brings it back.
 *
 * Two kinds are enough: a set goes with its last entry, and in each cluster
 * the anchor (a RemoteConfigMap, or an entry of a set) goes after every
 * other object naming it, which is every object but itself (plan.ts).
 */
import {
  Ready,
  Severity,
  type Requirements,
  type Result,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import { groups } from "../../apis/index.ts";
import { labels } from "./names.ts";
import { result, toCondition } from "./response.ts";

interface Composed {
  kind?: string;
  metadata?: {
    name?: string;
    labels?: Record<string, string>;
    ownerReferences?: { uid?: string; controller?: boolean; name?: string }[];
  };
}

const kinds = ["RemoteObjectSet", "RemoteConfigMap"] as const;
const key = (kind: string): string => `predecessor-${kind}`;
const reason = "PredecessorDeleting";
/**
 * A backstop, Crossplane's own poll interval: what brings a waiting composite
 * back is the watch of what it required (the lifecycle table checks that).
 */
const waitingTtlSeconds = 60;

type Meta = {
  metadata: { name?: string; namespace?: string; uid?: string; labels?: Record<string, string> };
};

/**
 * The claim's labels, or the composite's own for a composite without a
 * claim. A namespaced v2 XR's are those of the legacy claim of its name and
 * namespace: the one it replaces when a running Kafka moves to v2 (ADR 0020).
 */
function selectorLabels(xr: Meta, kafkaName: string, namespaced: boolean): Record<string, string> {
  const ns = namespaced ? xr.metadata.namespace : xr.metadata.labels?.[labels.claimNamespace];
  return ns !== undefined
    ? { [labels.claimName]: kafkaName, [labels.claimNamespace]: ns }
    : { [labels.crossplaneComposite]: xr.metadata.name ?? "" };
}

/**
 * The requirements that find them (only for a composite that has composed
 * nothing). A v2 XR also looks for the namespaced sets of an earlier XR of
 * its name in its namespace.
 */
export function predecessorRequirements(
  xr: Meta,
  kafkaName: string,
  namespaced = false,
): Requirements["resources"] {
  const matchLabels = { labels: selectorLabels(xr, kafkaName, namespaced) };
  return {
    ...Object.fromEntries(
      kinds.map((kind) => [key(kind), { apiVersion: groups.remote, kind, matchLabels }]),
    ),
    ...(namespaced
      ? {
          [key("NamespacedRemoteObjectSet")]: {
            apiVersion: groups.namespacedRemote,
            kind: "RemoteObjectSet",
            namespace: xr.metadata.namespace ?? "",
            matchLabels: { labels: { [labels.crossplaneComposite]: xr.metadata.name ?? "" } },
          },
        }
      : {}),
  };
}

const controllerOf = (o: Composed): { uid?: string; name?: string } | undefined =>
  o.metadata?.ownerReferences?.find((r) => r.controller);

/** Why this composite must wait, or undefined (nothing left, or not looked for yet). */
export function predecessorLeft(
  req: RunFunctionRequest,
  xr: Meta,
  kafkaName: string,
  namespaced = false,
): string | undefined {
  const left: Composed[] = [];
  for (const k of Object.keys(predecessorRequirements(xr, kafkaName, namespaced))) {
    for (const item of req.requiredResources[k]?.items ?? []) {
      const o = item.resource as Composed | undefined;
      if (o && (controllerOf(o)?.uid ?? "") !== (xr.metadata.uid ?? "")) left.push(o);
    }
  }
  if (left.length === 0) return undefined;
  const owners = [
    ...new Set(
      left.map(
        (o) =>
          controllerOf(o)?.name ?? o.metadata?.labels?.[labels.crossplaneComposite] ?? "(none)",
      ),
    ),
  ].sort();
  // The same words until they are gone: each change of a condition's message
  // is a write of the composite, and a watch event Crossplane counts.
  const claim = Object.entries(selectorLabels(xr, kafkaName, namespaced))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return (
    `waiting for the managed resources of ${owners.join(", ")}, an earlier composite of this claim, to be deleted ` +
    `(kubectl get remoteobjectsets,managed -l ${claim}): nothing is composed until they are gone, so that two ` +
    `composites never manage the same remote objects and kept volumes are taken up with their Kafka cluster id; ` +
    `should they not be deleted (their composite deleted with --cascade=orphan), delete them`
  );
}

/**
 * Composes nothing and says why: the composite is not ready (Crossplane
 * would call a composite with nothing composed Available), and Degraded
 * names what it waits for.
 */
export function waitForPredecessor(
  req: RunFunctionRequest,
  xr: { apiVersion: string; kind: string },
  message: string,
  results: Result[],
  requirements: Requirements,
): RunFunctionResponse {
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: { seconds: waitingTtlSeconds, nanos: 0 } },
    desired: {
      composite: {
        resource: { apiVersion: xr.apiVersion, kind: xr.kind },
        connectionDetails: {},
        ready: Ready.READY_FALSE,
      },
      resources: req.desired?.resources ?? {},
    },
    results: [...results, result(Severity.SEVERITY_NORMAL, message, reason)],
    context: req.context,
    requirements,
    conditions: [toCondition({ type: "Degraded", status: "True", reason, message })],
  };
}
