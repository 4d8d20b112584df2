/**
 * The controller (provider and composition engine in one process) and the
 * set-up of a multi-cluster sandbox around it: CRDs, the Composition, remote
 * clusters registered with their least-privilege identity, and the remote
 * Strimzi operators played. Used by `stretch-kafka sandbox`, the end-to-end
 * tests and the e2e benchmark, so all three run the same path.
 */
import type { KafkaSupervisorOptions } from "../provider/kafka-supervisor.ts";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { Logger } from "pino";
import type { KubeConfig } from "@kubernetes/client-node";
import { compose } from "../../functions/stretch-kafka/compose.ts";
import { CompositionEngine } from "../engine/engine.ts";
import { inProcess, type FunctionRunner } from "../engine/pipeline.ts";
import { DynamicClient, type KubeObject } from "../kube/dynamic.ts";
import { Metrics } from "../metrics.ts";
import { Provider } from "../provider/provider.ts";
import { registerCluster } from "../register.ts";
import { defaultQueueOptions, type QueueOptions } from "../runtime/workqueue.ts";
import { functionName } from "../../functions/render.ts";

export const compositionFile = fileURLToPath(
  new URL("../../compositions/xstretchkafka.yaml", import.meta.url),
);
export { functionName } from "../../functions/render.ts";

export interface Controller {
  provider: Provider;
  engine: CompositionEngine;
  readonly synced: boolean;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  /** The provider's namespace: CAs, credentials, composites' connection Secrets by default. */
  namespace: string;
  queue?: QueueOptions;
  /** Functions reached over gRPC, by name; function-stretch-kafka runs in-process otherwise. */
  functions?: ReadonlyMap<string, FunctionRunner>;
  metrics?: Metrics;
  /** The engine's resync of unchanged connection Secrets and composites (default 60 s). */
  resyncMs?: number;
  /** The provider's admin channel to Kafka (false: never ask Kafka). */
  kafka?: KafkaSupervisorOptions | false;
}

/** Starts the provider and the engine against the central cluster. */
export async function startController(
  central: DynamicClient,
  log: Logger,
  o: ControllerOptions,
): Promise<Controller> {
  const queue = o.queue ?? defaultQueueOptions;
  const provider = new Provider(
    central,
    log.child({ part: "provider" }),
    queue,
    o.namespace,
    o.metrics,
    undefined,
    o.kafka ?? {},
  );
  const runners = new Map<string, FunctionRunner>([[functionName, inProcess(compose)]]);
  for (const [name, runner] of o.functions ?? []) runners.set(name, runner);
  const engine = new CompositionEngine(central, log.child({ part: "engine" }), {
    runners,
    queue,
    namespace: o.namespace,
    ...(o.resyncMs !== undefined ? { resyncMs: o.resyncMs } : {}),
  });
  await provider.start();
  await engine.start();
  return {
    provider,
    engine,
    get synced() {
      return provider.synced && engine.synced;
    },
    stop: async () => {
      await engine.stop();
      await provider.stop();
    },
  };
}

export interface SandboxClusters {
  central: KubeConfig;
  /** Remote clusters by the name their ProviderConfig gets. */
  remotes: Map<string, { kubeConfig: KubeConfig; server: string; serverCa: string }>;
}

const fm = { fieldManager: "stretch-kafka-sandbox" };

/**
 * Prepares clusters for claims: the Composition and namespaces centrally,
 * each remote cluster registered (CRDs are the caller's: real clusters have
 * them from their operators).
 */
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
