/** Installs CRDs into a test cluster: ours (generated) and the real ones of the projects we integrate with. */
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { describeError } from "../controller/kube/errors.ts";
import { externalCrds, readYamlDocuments } from "./external-crds.ts";

import { ourCrdFiles } from "../apis/generated-files.ts";

export { ourCrdFiles, ourXrdFile } from "../apis/generated-files.ts";

/** Applies every document of the given files (server-side) and waits until each CRD is Established. */
export async function applyFiles(
  kc: KubeConfig,
  files: string[],
  timeoutSeconds = 60,
): Promise<KubeObject[]> {
  const client = new DynamicClient(kc);
  const applied: KubeObject[] = [];
  for (const file of files) {
    for (const doc of readYamlDocuments(file)) {
      try {
        applied.push(
          await client.apply(doc as KubeObject, { fieldManager: "stretch-kafka-testbed" }),
        );
      } catch (err) {
        throw new Error(`cannot apply ${file}: ${describeError(err)}`, { cause: err });
      }
    }
  }
  const crdNames = applied
    .filter((o) => o.kind === "CustomResourceDefinition")
    .map((o) => o.metadata.name ?? "");
  await waitEstablished(client, crdNames, timeoutSeconds);
  await client.close();
  return applied;
}

interface Crd extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

export async function waitEstablished(
  client: DynamicClient,
  names: string[],
  timeoutSeconds: number,
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const established = (crd: Crd): boolean =>
    (crd.status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True");
  for (const name of names) {
    for (;;) {
      const crd = await client.get<Crd>(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        name,
      );
      if (established(crd)) break;
      if (Date.now() > deadline)
        throw new Error(`CRD ${name} not Established within ${timeoutSeconds}s`);
      await sleep(100);
    }
  }
}

export interface InstallOptions {
  crossplane?: boolean;
  mcs?: boolean;
  /** The Prometheus Operator's PodMonitor, PrometheusRule and ServiceMonitor. */
  monitoring?: boolean;
  strimzi?: boolean;
  /** Strimzi 0.49-0.51's CRDs (serving v1beta2 too) instead of Strimzi 1.x's. */
  strimziLegacy?: boolean;
  ours?: boolean;
  /** The v2 shape's (ADR 0020): the namespaced XR's CRD and the `.m.` provider kinds. */
  oursNamespaced?: boolean;
}

/** Installs the requested CRD sets (all by default). */
export async function installCrds(kc: KubeConfig, opts: InstallOptions = {}): Promise<void> {
  const want = {
    crossplane: true,
    mcs: true,
    monitoring: true,
    strimzi: true,
    strimziLegacy: false,
    ours: true,
    oursNamespaced: false,
    ...opts,
  };
  const ext = await externalCrds();
  const files = [
    ...(want.crossplane ? ext.crossplane : []),
    ...(want.mcs ? ext.mcs : []),
    ...(want.monitoring ? ext.monitoring : []),
    ...(want.strimzi && !want.strimziLegacy ? ext.strimzi : []),
    ...(want.strimziLegacy ? ext.strimziLegacy : []),
    ...(want.ours ? ourCrdFiles() : []),
    ...(want.oursNamespaced ? ourCrdFiles("namespaced") : []),
  ];
  await applyFiles(kc, files);
}
