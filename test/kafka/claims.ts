/** The claims the real-Kafka test and benchmark run, and the ProviderConfigs they name. */
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../functions/render.ts";

/** The examples' ProviderConfigs (east, west and north among them): the function requires them. */
export function exampleProviderConfigs(): KubeObject[] {
  return parseAllDocuments(
    readFileSync(new URL("../../examples/providerconfigs.yaml", import.meta.url), "utf8"),
  ).map((d) => d.toJS() as KubeObject);
}

/**
 * Three clusters (east, west, north), each with one controller and (by
 * default) one broker, on `mcs`: the smallest stretch that survives losing one.
 */
export function threeClusterClaim(
  name: string,
  mode: "static" | "dynamic",
  brokersPerCluster = 1,
): KubeObject {
  return {
    apiVersion: "stretchkafka.dev/v1alpha1",
    kind: "StretchKafka",
    metadata: { name, namespace: "team-a" },
    spec: {
      kafka: { version: "4.3.1" },
      networking: { provider: "mcs" },
      quorum: { mode },
      clusters: ["east", "west", "north"].map((c) => ({
        name: c,
        providerConfigRef: { name: c },
        nodePools: [
          { name: "controllers", roles: ["controller"], replicas: 1 },
          { name: "brokers", roles: ["broker"], replicas: brokersPerCluster },
        ],
      })),
    },
  };
}
