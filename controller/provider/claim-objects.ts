/**
 * What the objects app teams write next to their StretchKafka claim
 * (KafkaTopic, KafkaUser, KafkaRebalance) share: the claim and Kafka cluster
 * they name (`spec.kafkaRef`, same namespace only), and a status written only
 * when a reader would see it change, with Crossplane's condition rules.
 */
import isEqual from "lodash/isEqual.js";
import { groups, type Condition, type KafkaAdmin } from "../../apis/index.ts";
import type { DynamicClient, KubeObject, KubeResource } from "../kube/dynamic.ts";
import { fieldManagers } from "../field-managers.ts";
import { mergeConditions } from "./conditions.ts";

export type Cond = Omit<Condition, "lastTransitionTime">;
export const cond = (type: string, ok: boolean, reason: string, message: string): Cond => ({
  type,
  status: ok ? "True" : "False",
  reason,
  message,
});

export interface Claim extends KubeObject {
  spec: {
    resourceRef?: { name: string };
    kafka?: {
      config?: Record<string, unknown>;
      authorization?: { type: string };
      listeners?: {
        plain?: { enabled?: boolean; authentication?: { type: string } };
        tls?: { enabled?: boolean; authentication?: { type: string } };
        external?: { authentication?: { type: string } };
      };
    };
    rebalance?: { throttleBytesPerSecond?: number; maxPartitionMoves?: number };
  };
}

/** What stops an object from being reconciled now, said in its Ready condition. */
export class Waiting extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Undefined for a Waiting error (no claim, no Kafka yet); any other is thrown on. */
export function gone(err: unknown): undefined {
  if (err instanceof Waiting) return undefined;
  throw err;
}

export interface ClaimObject extends KubeResource {
  spec: { kafkaRef: { name: string } };
  status?: object | undefined;
}

/** The claim an object names, and its composite (the Kafka cluster). */
export async function claimOf(
  deps: { central: DynamicClient; admin: (composite: string) => KafkaAdmin | undefined },
  obj: ClaimObject,
): Promise<{ claim: Claim; composite: string; admin: KafkaAdmin }> {
  const ns = obj.metadata.namespace ?? "";
  const ref = obj.spec.kafkaRef.name;
  const claim = await deps.central.find<Claim>(groups.composite, "StretchKafka", ref, ns);
  if (!claim)
    throw new Waiting(
      "KafkaNotFound",
      `spec.kafkaRef.name: no StretchKafka ${ref} in namespace ${ns}; name a claim of this namespace`,
    );
  const composite = claim.spec.resourceRef?.name;
  const admin = composite ? deps.admin(composite) : undefined;
  if (!composite || !admin)
    throw new Waiting("WaitingForKafka", `StretchKafka ${ref} is not running yet`);
  return { claim, composite, admin };
}

/** Writes status (conditions merged) only when it changes. */
export async function writeObjectStatus(
  deps: { central: DynamicClient; now: () => string },
  obj: ClaimObject,
  fields: Record<string, unknown>,
  conditions: Cond[],
): Promise<void> {
  const old = (obj.status ?? {}) as Record<string, unknown> & { conditions?: Condition[] };
  const next = {
    ...fields,
    observedGeneration: obj.metadata.generation,
    conditions: mergeConditions(old.conditions, conditions, deps.now(), obj.metadata.generation),
  };
  const { conditions: _c, ...rest } = old;
  // Key order aside (the API server keeps its own), nothing a reader can see changed.
  if (
    isEqual(next.conditions, old.conditions ?? []) &&
    isEqual({ ...fields, observedGeneration: obj.metadata.generation }, rest)
  )
    return;
  await deps.central.apply(
    {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: { name: obj.metadata.name ?? "", namespace: obj.metadata.namespace ?? "" },
      status: next,
    },
    // force: the provider is the only writer of this status (and took it over from its earlier manager name).
    { fieldManager: fieldManagers.provider, subresource: "status", force: true },
  );
}
