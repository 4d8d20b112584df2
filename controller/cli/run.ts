/**
 * `stretch-kafka provider` and `stretch-kafka controller`: the provider
 * alone, or with the composition engine, behind leader election, with
 * /healthz, /readyz and /metrics. Loaded by main.ts only for these two
 * commands, and the engine (with the in-process function) only for
 * `controller`: a provider loads neither (ADR 0022).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { FunctionRunner } from "../engine/pipeline.ts";
import { DynamicClient } from "../kube/dynamic.ts";
import { loadKubeConfig } from "./kubeconfig.ts";
import { serveHttp } from "../http.ts";
import { newLogger } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { Provider } from "../provider/provider.ts";
import { LeaderElector } from "../runtime/leader.ts";
import { defaultQueueOptions } from "../runtime/workqueue.ts";

export interface RuntimeOptions {
  kubeconfig?: string;
  namespace: string;
  concurrency: string;
  logLevel: string;
  httpAddress: string;
  leaderElect: boolean;
  leaseDurationSeconds: string;
  renewDeadlineSeconds: string;
  retryPeriodSeconds: string;
  kafkaAdminIntervalSeconds: string;
  kafkaAdminConcurrency: string;
  kafkaAdmin: boolean;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} must be a positive number, not ${value}`);
  return n;
}

/** The provider alone, or with the composition engine (the standalone controller). */
export async function runController(
  o: RuntimeOptions,
  withEngine: boolean,
  functions: ReadonlyMap<string, FunctionRunner> = new Map(),
): Promise<void> {
  const concurrency = Number(o.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`--concurrency must be a positive integer, not ${o.concurrency}`);
  }
  const role = withEngine ? "controller" : "provider";
  const log = newLogger({ name: `stretch-kafka-${role}`, level: o.logLevel });
  const metrics = new Metrics();
  const central = new DynamicClient(loadKubeConfig(o.kubeconfig), {
    userAgent: `stretch-kafka-${role}`,
    onRequest: metrics.requestHook("central"),
  });
  const queue = { ...defaultQueueOptions, concurrency };
  const elector = o.leaderElect
    ? new LeaderElector(
        central,
        {
          namespace: o.namespace,
          name: `stretch-kafka-${role}`,
          identity: `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
          leaseDurationSeconds: positive("lease-duration-seconds", o.leaseDurationSeconds),
          renewDeadlineSeconds: positive("renew-deadline-seconds", o.renewDeadlineSeconds),
          retryPeriodSeconds: positive("retry-period-seconds", o.retryPeriodSeconds),
        },
        log,
      )
    : undefined;
  const state: { running?: { synced: boolean; provider: Provider; stop(): Promise<void> } } = {};
  const http = await serveHttp(o.httpAddress, metrics, {
    // A standby is ready: it is doing its job, which is waiting.
    ready: () => (state.running ? state.running.synced : elector !== undefined),
    beforeScrape: () => {
      state.running?.provider.observeState();
    },
  });
  const stopping = new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const kafka = o.kafkaAdmin
    ? {
        intervalMs: positive("kafka-admin-interval-seconds", o.kafkaAdminIntervalSeconds) * 1000,
        concurrency: Math.round(positive("kafka-admin-concurrency", o.kafkaAdminConcurrency)),
      }
    : (false as const);
  const lead = async (): Promise<void> => {
    if (withEngine) {
      const { startController } = await import("./controller.ts");
      state.running = await startController(central, log, {
        namespace: o.namespace,
        queue,
        functions,
        metrics,
        kafka,
      });
    } else {
      const provider = new Provider(central, log, queue, o.namespace, metrics, undefined, kafka);
      await provider.start();
      state.running = {
        provider,
        get synced() {
          return provider.synced;
        },
        stop: () => provider.stop(),
      };
    }
  };
  if (elector) {
    void elector.run(lead, () => {
      // Another replica may be acting already: stop at once, restart as a candidate.
      log.error("leadership lost; exiting");
      process.exit(1);
    });
  } else {
    await lead();
  }
  await stopping;
  log.info("stopping: letting reconciles in flight finish");
  await state.running?.stop();
  await elector?.stop();
  await central.close();
  http.close();
}
