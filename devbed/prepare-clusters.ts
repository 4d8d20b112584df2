/**
 * A multi-cluster sandbox's clusters made ready for claims: the Composition
 * and namespaces centrally, each remote cluster registered with its
 * least-privilege identity (register-cluster's code). CRDs are the caller's:
 * real clusters have them from their operators.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { KubeConfig } from "@kubernetes/client-node";
import { parse } from "yaml";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { registerCluster } from "../controller/register.ts";
import type { TestBed, TestCluster } from "./clusters.ts";
import { inputApiVersion, inputKind } from "../functions/stretch-kafka/object-sets.ts";
import { installCrds } from "./install.ts";
import { serverCa } from "./provider-bed.ts";

/** Where the controller keeps its CAs and credentials in the sandbox and the test beds. */
export const providerNamespace = "stretch-kafka-system";

export const compositionFile = fileURLToPath(
  new URL("../compositions/xstretchkafka.yaml", import.meta.url),
);

/**
 * A Composition asking the function for one managed resource per remote
 * object, the shape composites created before sets were shipped keep
 * (ADR 0026): the tests run the shared table on it too.
 */
export const perObjectCompositionName = "xstretchkafkas-per-object.stretchkafka.dev";

/**
 * The shared lifecycle table's scaling step on the example claim, which the
 * Crossplane benchmark repeats: east's broker pool to 3, and cluster south
 * added with one broker.
 */
export function scaleEastAddSouth(spec: {
  clusters: {
    name: string;
    providerConfigRef: { name: string };
    nodePools: Record<string, unknown>[];
  }[];
}): void {
  const brokers = spec.clusters[0]?.nodePools[1];
  if (brokers) brokers["replicas"] = 3;
  spec.clusters.push({
    name: "south",
    providerConfigRef: { name: "south" },
    nodePools: [{ name: "brokers", roles: ["broker"], replicas: 1 }],
  });
}

/** The shipped Composition with the function's input asking for one managed resource per object. */
export function perObjectComposition(): KubeObject {
  const c = parse(readFileSync(compositionFile, "utf8")) as KubeObject & {
    spec: { pipeline: Record<string, unknown>[] };
  };
  c.metadata.name = perObjectCompositionName;
  c.spec.pipeline = c.spec.pipeline.map((step) => ({
    ...step,
    input: { apiVersion: inputApiVersion, kind: inputKind, remoteObjects: "PerObject" },
  }));
  return c;
}

export interface SandboxClusters {
  central: KubeConfig;
  /** Remote clusters by the name their ProviderConfig gets. */
  remotes: Map<string, { kubeConfig: KubeConfig; server: string; serverCa: string }>;
}

/** The sandbox's own field manager, in the controller's scheme (controller/field-managers.ts). */
export const fm = { fieldManager: "stretch-kafka-sandbox" };

/** Prepares clusters for claims. */
export async function prepareClusters(
  clusters: SandboxClusters,
  o: { namespace: string; targetNamespace: string; report: (msg: string) => void },
): Promise<void> {
  const central = new DynamicClient(clusters.central);
  try {
    for (const ns of [o.namespace, "crossplane-system"]) {
      await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, fm);
    }
    await central.apply(parse(readFileSync(compositionFile, "utf8")) as KubeObject, fm);
    for (const [name, r] of clusters.remotes) {
      const remote = new DynamicClient(r.kubeConfig);
      try {
        await registerCluster(
          {
            name,
            remote,
            central,
            namespace: o.targetNamespace,
            providerNamespace: o.namespace,
            server: r.server,
            serverCa: r.serverCa,
          },
          (what) => {
            o.report(`  ${name}: ${what}`);
          },
        );
      } finally {
        await remote.close();
      }
    }
  } finally {
    await central.close();
  }
}

/**
 * A test bed ready for claims: every CRD (Crossplane's and ours centrally,
 * Strimzi's in the remote clusters, MCS everywhere), the Composition, the
 * remote clusters registered. The sandbox, the end-to-end tests and the e2e
 * benchmark all start here. The central cluster runs no Strimzi, and its
 * KafkaTopic and KafkaUser there would share kind names with ours.
 */
export async function prepareBed(
  bed: TestBed,
  remotes: string[],
  o: { targetNamespace: string; report: (msg: string) => void },
): Promise<void> {
  o.report("installing CRDs: stretch-kafka, Crossplane, MCS and Strimzi");
  await Promise.all(
    remotes.map((n) =>
      installCrds(bed.cluster(n).kubeConfig(), { crossplane: false, ours: false }),
    ),
  );
  await prepareCentral(
    bed.cluster("central"),
    remotes.map((n) => bed.cluster(n)),
    o,
  );
}

/**
 * A central cluster ready for claims on remote clusters prepared already:
 * its CRDs, the Composition, the remote clusters registered (again, for a
 * central cluster that replaces a lost one: what Git and `register-cluster`
 * give a platform team).
 */
export async function prepareCentral(
  central: TestCluster,
  remotes: TestCluster[],
  o: { targetNamespace: string; report: (msg: string) => void },
): Promise<void> {
  await installCrds(central.kubeConfig(), { strimzi: false });
  o.report("registering the remote clusters (namespaced ServiceAccount, least Role, token):");
  await prepareClusters(
    {
      central: central.kubeConfig(),
      remotes: new Map(
        remotes.map((c) => [
          c.name,
          { kubeConfig: c.kubeConfig(), server: c.server, serverCa: serverCa(c) },
        ]),
      ),
    },
    { namespace: providerNamespace, targetNamespace: o.targetNamespace, report: o.report },
  );
}
