/**
 * Renders a composite like `crossplane render` does, in-process: the
 * composite with its status and conditions, then every desired composed
 * resource with the metadata Crossplane gives it, as one YAML stream.
 */
import {
  Ready,
  RunFunctionRequest,
  Severity,
  Status,
  type ResourceSelector,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import { manifestYaml } from "../apis/yaml.ts";
import { annotations, groups, labels } from "../apis/index.ts";
import { compose } from "./stretch-kafka/compose.ts";

export const compositionResourceName = annotations.compositionResourceName;
/** `crossplane render` stamps every condition with this time. */
const renderTime = "2024-01-01T00:00:00Z";

import type { KubeObject, OwnerReference } from "../apis/meta.ts";
import { runPipelineSync, type PipelineStep } from "./pipeline.ts";

/** A controller reference to `owner`: the garbage collector removes what it owns with it. */
export function controllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? "",
    uid: owner.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The Composition's name for function-stretch-kafka: what Crossplane calls its installed package. */
export const functionName = "stretch-kafka-function-stretch-kafka";

export type { KubeObject };

/** A claim becomes the composite the engine (or Crossplane) would bind it to. */
export function asComposite(obj: KubeObject): KubeObject {
  // A namespaced v2 StretchKafka is its own composite (ADR 0020).
  if (obj.kind !== "StretchKafka" || obj.apiVersion === groups.namespacedComposite) return obj;
  const meta = obj.metadata;
  const spec = { ...(obj["spec"] as Record<string, unknown>) };
  delete spec["writeConnectionSecretToRef"];
  return {
    apiVersion: obj.apiVersion,
    kind: "XStretchKafka",
    metadata: {
      name: meta.name ?? "",
      labels: {
        [claimNameLabel]: meta.name ?? "",
        [claimNamespaceLabel]: meta.namespace ?? "default",
      },
    },
    spec: {
      ...spec,
      claimRef: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: meta.name ?? "",
        namespace: meta.namespace ?? "default",
      },
    },
  };
}

export function request(xr: KubeObject, observed: KubeObject[]): RunFunctionRequest {
  const resources: Record<
    string,
    { resource: Record<string, unknown>; connectionDetails: Record<string, Buffer>; ready: Ready }
  > = {};
  for (const o of observed) {
    const name = o.metadata.annotations?.[compositionResourceName];
    if (name)
      resources[name] = { resource: o, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED };
  }
  return RunFunctionRequest.fromPartial({
    meta: { tag: "" },
    observed: {
      composite: { resource: xr, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED },
      resources,
    },
  });
}

function conditionStatus(s: Status): string {
  return s === Status.STATUS_CONDITION_TRUE
    ? "True"
    : s === Status.STATUS_CONDITION_FALSE
      ? "False"
      : "Unknown";
}

/** "a, b, and c" / "a, b, c, and 2 more", as Crossplane lists unready resources. */
function firstNAndSomeMore(names: string[], n = 3): string {
  const sorted = [...names].sort();
  if (sorted.length > n) return `${sorted.slice(0, n).join(", ")}, and ${sorted.length - n} more`;
  if (sorted.length === n)
    return `${sorted.slice(0, n - 1).join(", ")}, and ${sorted[n - 1] ?? ""}`;
  return sorted.join(", ");
}

/** The objects `crossplane render` would print for this response. */
/**
 * Crossplane's Ready condition of a composite: True once every composed
 * resource is ready, unless the function states the composite's readiness.
 */
export function readyCondition(rsp: RunFunctionResponse): CompositeCondition {
  // Readiness the function states supersedes the composed resources' (as Crossplane).
  const stated = rsp.desired?.composite?.ready;
  if (stated === Ready.READY_FALSE) return { type: "Ready", status: "False", reason: "Creating" };
  if (stated === Ready.READY_TRUE) return { type: "Ready", status: "True", reason: "Available" };
  const unready = unreadyResources(rsp);
  return unready.length > 0
    ? {
        type: "Ready",
        status: "False",
        reason: "Creating",
        message: `Unready resources: ${firstNAndSomeMore(unready)}`,
      }
    : { type: "Ready", status: "True", reason: "Available" };
}

/** The composed resources not ready, by name, sorted. */
function unreadyResources(rsp: RunFunctionResponse): string[] {
  const desired = rsp.desired?.resources ?? {};
  return Object.keys(desired)
    .sort()
    .filter((n) => desired[n]?.ready !== Ready.READY_TRUE);
}

/** Degraded reasons that mean a cluster is out of reach, not still being created. */
const outageReasons = new Set(["ClusterUnavailable", "QuorumLost"]);

/**
 * The standalone engine's Ready: Crossplane's, except that a composite held
 * back by a cluster that does not answer says so in the reason (Crossplane
 * core always says "Creating", which reads as if nothing had ever run
 * there). Its message lists the unready resources, as Crossplane's does when
 * the function leaves readiness to it.
 */
export function engineReadyCondition(rsp: RunFunctionResponse): CompositeCondition {
  const ready = readyCondition(rsp);
  const outage = functionConditions(rsp).find(
    (c) => c.type === "Degraded" && c.status === "True" && outageReasons.has(c.reason),
  );
  if (ready.status === "True" || !outage) return ready;
  const unready = unreadyResources(rsp);
  return {
    type: "Ready",
    status: "False",
    reason: outage.reason,
    message:
      (outage.message ?? "") +
      (unready.length > 0 ? `; Unready resources: ${firstNAndSomeMore(unready)}` : ""),
  };
}

export interface CompositeCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message?: string;
}

/** The conditions the function set, without Ready and Synced (Crossplane's own). */
export function functionConditions(rsp: RunFunctionResponse): CompositeCondition[] {
  return rsp.conditions
    .filter((c) => c.type !== "Ready" && c.type !== "Synced")
    .map((c) => ({
      type: c.type,
      status: conditionStatus(c.status) as CompositeCondition["status"],
      reason: c.reason,
      ...(c.message ? { message: c.message } : {}),
    }));
}

export const compositeLabel = labels.crossplaneComposite;
export const claimNameLabel = labels.claimName;
export const claimNamespaceLabel = labels.claimNamespace;

/**
 * A desired composed resource as Crossplane creates it: named by the
 * composition-resource-name annotation, labelled with its composite (and
 * claim), controlled by the composite.
 */
export function composedObject(xr: KubeObject, name: string, resource: object): KubeObject {
  const r = structuredClone(resource) as KubeObject;
  const meta = ((r as { metadata?: KubeObject["metadata"] }).metadata ??= {});
  const claimName = xr.metadata.labels?.[claimNameLabel];
  const claimNs = xr.metadata.labels?.[claimNamespaceLabel];
  meta.annotations = { ...meta.annotations, [compositionResourceName]: name };
  // A namespaced XR's composed resources are in its namespace.
  if (xr.metadata.namespace) meta.namespace = xr.metadata.namespace;
  meta.labels = {
    ...meta.labels,
    [compositeLabel]: xr.metadata.name ?? "",
    ...(claimName && claimNs
      ? { [claimNameLabel]: claimName, [claimNamespaceLabel]: claimNs }
      : {}),
  };
  (meta as Record<string, unknown>)["ownerReferences"] = [controllerRef(xr)];
  return r;
}

/** The messages of the function's fatal results, if it refused. */
export function fatalResults(rsp: RunFunctionResponse): string[] {
  return rsp.results.filter((r) => r.severity === Severity.SEVERITY_FATAL).map((r) => r.message);
}

/** The objects `crossplane render` would print for this response. */
export function renderedObjects(xr: KubeObject, rsp: RunFunctionResponse): KubeObject[] {
  const fatal = fatalResults(rsp);
  if (fatal.length > 0) {
    throw new Error(`the function refused the composite:\n  ${fatal.join("\n  ")}`);
  }
  const desired = rsp.desired?.resources ?? {};
  const conditions = [readyCondition(rsp), ...functionConditions(rsp)].map((c) => ({
    ...c,
    lastTransitionTime: renderTime,
  }));
  const status = {
    ...((rsp.desired?.composite?.resource?.["status"] ?? {}) as Record<string, unknown>),
    conditions,
  };
  const out: KubeObject[] = [
    {
      apiVersion: xr.apiVersion,
      kind: xr.kind,
      metadata: {
        name: xr.metadata.name ?? "",
        ...(xr.metadata.namespace ? { namespace: xr.metadata.namespace } : {}),
      },
      status,
    },
  ];
  for (const name of Object.keys(desired).sort()) {
    out.push(composedObject(xr, name, desired[name]?.resource ?? {}));
  }
  return out;
}

/** Objects matching a selector, as Crossplane's fetcher would return them. */
export function matching<T extends KubeObject>(selector: ResourceSelector, candidates: T[]): T[] {
  const labels = Object.entries(selector.matchLabels?.labels ?? {});
  return candidates.filter(
    (o) =>
      o.apiVersion === selector.apiVersion &&
      o.kind === selector.kind &&
      (selector.matchName === undefined || o.metadata.name === selector.matchName) &&
      (!selector.namespace || o.metadata.namespace === selector.namespace) &&
      labels.every(([k, v]) => o.metadata.labels?.[k] === v),
  );
}

/** The Composition's one step, as compositions/xstretchkafka.yaml names it. */
const steps: PipelineStep[] = [{ step: "stretch-kafka", functionRef: { name: functionName } }];

/**
 * Runs the function the way Crossplane does, through the one pipeline runner
 * (functions/pipeline.ts): when it states requirements, they are fetched
 * (here: from `required`) and it is called again until they settle. The last
 * response, as `crossplane render` prints from.
 */
export function runPipeline(
  xr: KubeObject,
  observed: KubeObject[],
  required: KubeObject[],
  fn: (req: RunFunctionRequest) => RunFunctionResponse = compose,
  /** The step's input, as a Composition would give it. */
  input?: Record<string, unknown>,
): RunFunctionResponse {
  const out = runPipelineSync(
    input ? steps.map((s) => ({ ...s, input })) : steps,
    new Map([[functionName, fn]]),
    request(xr, observed),
    (selector) => matching(selector, required),
  );
  if (!out.last) throw new Error(out.fatal.join("; "));
  return out.last;
}

/**
 * The input the shipped Composition (compositions/xstretchkafka.yaml) gives
 * the step: a RemoteObjectSet per remote cluster (ADR 0026). `stretch-kafka
 * render` renders with it, as `crossplane render` with that Composition does;
 * without input the function composes a managed resource per object.
 */
export const shippedInput = {
  apiVersion: "function.stretchkafka.dev/v1alpha1",
  kind: "Input",
  remoteObjects: "PerCluster",
};

export function render(
  xrOrClaim: KubeObject,
  observed: KubeObject[] = [],
  required: KubeObject[] = [],
  fn: (req: RunFunctionRequest) => RunFunctionResponse = compose,
  /** The step's input, as a Composition would give it (none: a managed resource per object). */
  input?: Record<string, unknown>,
): KubeObject[] {
  const xr = asComposite(xrOrClaim);
  return renderedObjects(xr, runPipeline(xr, observed, required, fn, input));
}

export function toYamlStream(objects: KubeObject[]): string {
  return objects
    .map((o) => `---\n${manifestYaml(o, { lineWidth: 0, aliasDuplicateObjects: false })}`)
    .join("");
}
