/**
 * The controller: the provider and the composition engine in one process,
 * function-stretch-kafka in-process unless reached over gRPC. The CLI starts
 * it (`stretch-kafka controller`), and so do the sandbox, the end-to-end
 * tests and the benchmarks, so all of them run the same path.
 */
import type { KafkaSupervisorOptions } from "../provider/kafka-supervisor.ts";
import type { Logger } from "pino";
import { compose } from "../../functions/stretch-kafka/compose.ts";
import { CompositionEngine } from "../engine/engine.ts";
import { inProcess, type FunctionRunner } from "../engine/pipeline.ts";
import type { DynamicClient } from "../kube/dynamic.ts";
import { Metrics } from "../metrics.ts";
import { Provider } from "../provider/provider.ts";
import { defaultQueueOptions, type QueueOptions } from "../runtime/workqueue.ts";
import { functionName } from "../../functions/render.ts";

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
