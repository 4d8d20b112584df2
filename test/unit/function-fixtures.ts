/**
 * What the function sees back from Crossplane in the unit tests: a run's
 * desired managed resources as observed ones, each under its composition
 * resource name, with the status the provider would have written. Every run
 * here freezes the request first (frozen.ts): a function that writes into
 * its input fails the test that ran it.
 */
import cloneDeep from "lodash/cloneDeep.js";
import type { RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import type { KafkaLive, XStretchKafkaStatus } from "../../apis/index.ts";
import { asComposite, runPipeline, type KubeObject } from "../../functions/render.ts";
import { loadExample } from "../examples.ts";
import { composeFrozen } from "./frozen.ts";

const example = loadExample("claim-3-clusters.yaml");

/**
 * The function run on examples/claim-3-clusters.yaml with `mutate` applied to
 * its spec, the composite's status and what
 * Crossplane observed.
 */
export function runExample(
  mutate: (spec: Record<string, unknown>) => void,
  status?: XStretchKafkaStatus,
  observed: KubeObject[] = [],
  /** ProviderConfigs of clusters the example does not name, by name. */
  moreClusters: string[] = [],
  /** The Composition step's input. */
  input?: Record<string, unknown>,
): RunFunctionResponse {
  const xr = asComposite(cloneDeep(example.claim));
  mutate(xr["spec"] as Record<string, unknown>);
  if (status) xr["status"] = cloneDeep(status);
  const [pc] = example.required;
  const more = pc
    ? moreClusters.map((name) => ({ ...cloneDeep(pc), metadata: { ...pc.metadata, name } }))
    : [];
  return runPipeline(xr, cloneDeep(observed), [...example.required, ...more], composeFrozen, input);
}

/** The composite status a run rendered. */
export const statusOf = (r: RunFunctionResponse): XStretchKafkaStatus =>
  r.desired?.composite?.resource?.["status"] as XStretchKafkaStatus;

/** The desired resources of `r` that `statusFor` gives a status, observed with it. */
export function observedFrom(
  r: RunFunctionResponse,
  statusFor: (mr: KubeObject) => Record<string, unknown> | undefined,
): KubeObject[] {
  return Object.entries(r.desired?.resources ?? {}).flatMap(([name, d]) => {
    const mr = d.resource as KubeObject;
    const status = statusFor(mr);
    if (!status) return [];
    return [
      {
        ...mr,
        metadata: {
          ...mr.metadata,
          generation: 1,
          annotations: {
            ...mr.metadata.annotations,
            "crossplane.io/composition-resource-name": name,
          },
        },
        status: {
          observedGeneration: 1,
          conditions: [{ type: "Synced", status: "True", reason: "ReconcileSuccess" }],
          ...status,
        },
      },
    ];
  });
}

/** The RemoteKafka resources of `r`, carrying Kafka's view as the provider reports it. */
export const kafkaReports = (r: RunFunctionResponse, live: KafkaLive): KubeObject[] =>
  observedFrom(r, (mr) =>
    mr.kind === "RemoteKafka" ? { atProvider: { kafka: live } } : undefined,
  );

/** The podsets of `r`, every pod Ready at the revision `r` asked for. */
export const podSetsCurrent = (r: RunFunctionResponse): KubeObject[] =>
  observedFrom(r, (mr) => {
    if (mr.kind !== "RemoteStrimziPodSet") return undefined;
    const pods = (mr["spec"] as { forProvider: { manifest: { spec: { pods: unknown[] } } } })
      .forProvider.manifest.spec.pods.length;
    return { atProvider: { pods, readyPods: pods, currentPods: pods } };
  });
