/**
 * `stretch-kafka sandbox`: a local multi-cluster sandbox on real API servers.
 * Starts a central and three remote Kubernetes control planes (the test bed),
 * installs every CRD (ours and the real ones of Crossplane, MCS and Strimzi),
 * registers the remote clusters with their least-privilege identity, runs the
 * controller (provider and composition engine), plays the remote Strimzi
 * operators and runs every Kafka pod as a real Kafka process (the node
 * agents play the kubelet: devbed/kafka), applies a sample claim, shows its
 * status converging until Ready, and waits until Kafka itself reports every
 * controller voting and every broker registered. While it runs,
 * `npm run sandbox -- produce|consume|stop-cluster|start-cluster` use it
 * (sandbox-control.ts). With STRETCH_KAFKA_KUBECONFIGS=central,remote1,...
 * it uses those clusters instead, and plays nothing there.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { KafkaLive } from "../apis/index.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { describeError } from "../controller/kube/errors.ts";
import { newLogger } from "../controller/log.ts";
import { startTestBed, type TestBed } from "./clusters.ts";
import { cacheDir } from "./cache.ts";
import { startController } from "../controller/cli/controller.ts";
import { fm, prepareBed, providerNamespace } from "./prepare-clusters.ts";
import { playStrimzi } from "./strimzi-player.ts";
import { claimStatus } from "../controller/cli/status.ts";
import { eventually } from "./eventually.ts";
import { KafkaNodes } from "./kafka/stretch-bed.ts";
import { serveControl, usage, writeState } from "./sandbox-control.ts";
import { defaultKafkaVersion } from "../functions/stretch-kafka/image.ts";

export interface SandboxOptions {
  /** Exit 0 once the claim is Ready (non-zero if it is not within `readyTimeoutSeconds`). */
  exitWhenReady: boolean;
  claimFile: string;
  readyTimeoutSeconds: number;
  log: (msg: string) => void;
}

export const defaultClaimFile = fileURLToPath(
  new URL("../examples/claim-3-clusters.yaml", import.meta.url),
);

const remoteNames = ["east", "west", "north"];

interface Claim extends KubeObject {
  spec: {
    targetNamespace?: string;
    clusters: { providerConfigRef: { name: string } }[];
    kafka?: { version?: string };
    writeConnectionSecretToRef?: { name: string };
  };
  status?: {
    conditions?: { type: string; status: string; message?: string }[];
    summary?: { clusters?: string; nodes?: string };
    kafka?: { live?: KafkaLive };
  };
}

export async function sandbox(opts: SandboxOptions): Promise<void> {
  const { log } = opts;
  const claim = parse(readFileSync(opts.claimFile, "utf8")) as Claim;
  const unknown = claim.spec.clusters
    .map((c) => c.providerConfigRef.name)
    .filter((n) => !remoteNames.includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `${opts.claimFile} names clusters ${unknown.join(", ")}; the sandbox's remote clusters are ${remoteNames.join(", ")}`,
    );
  }
  const targetNamespace = claim.spec.targetNamespace ?? "kafka";
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  log("starting a central and three remote Kubernetes control planes (real kube-apiserver + etcd)");
  const bed: TestBed = await startTestBed({
    names: ["central", ...remoteNames],
    scheduled: remoteNames,
    log,
  });
  // The progress lines are the output; the controller speaks up only for errors (LOG_LEVEL for more).
  const logger = newLogger({ name: "stretch-kafka", level: process.env["LOG_LEVEL"] ?? "error" });
  const remotes = new Map(
    remoteNames.map((n) => [n, new DynamicClient(bed.cluster(n).kubeConfig())]),
  );
  const central = new DynamicClient(bed.cluster("central").kubeConfig());
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    log("tearing the sandbox down");
    for (const c of cleanups.reverse()) await c().catch(() => {});
    for (const r of remotes.values()) await r.close();
    await central.close();
    await bed.close();
  };
  let ready = false;
  try {
    await prepareBed(bed, remoteNames, { targetNamespace, report: log });
    const local = new Map([...remotes].filter(([n]) => bed.cluster(n).managed));
    let kafka: KafkaNodes | undefined;
    if (local.size > 0) {
      kafka = await KafkaNodes.start({
        bed,
        clusters: [...local.keys()],
        namespace: targetNamespace,
        kafkaVersion: claim.spec.kafka?.version ?? defaultKafkaVersion,
        log: logger,
        report: log,
        // Load balancers, node ports and an ingress controller per cluster, for claims
        // with an external listener (docs/external-access.md).
        edge: true,
      });
      const k = kafka;
      cleanups.push(() => k.stop());
    }
    log("starting the controller: provider and composition engine, function in-process");
    const controller = await startController(central, logger, {
      namespace: providerNamespace,
      // Kafka asked every 10 s, so a stopped cluster shows quickly; names resolve as on a flat network.
      kafka: { intervalMs: 10_000, ...(kafka ? { lookup: kafka.network.lookup } : {}) },
    });
    cleanups.push(() => controller.stop());
    if (local.size > 0) {
      log(
        `playing Strimzi's podset controller in ${[...local.keys()].join(", ")} (quirks included), and each cluster's kubelet: every Kafka pod runs as a real Kafka process`,
      );
      const players = playStrimzi(local, targetNamespace, logger, { kubelet: false });
      cleanups.push(async () => {
        await Promise.all(players.map((p) => p.stop()));
      });
    }

    const ns = claim.metadata.namespace ?? "default";
    const name = claim.metadata.name ?? "";
    await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, fm);
    try {
      await central.apply(claim, fm);
    } catch (err) {
      throw new Error(
        `the API server refused the sample claim ${opts.claimFile}: ${describeError(err)}`,
        { cause: err },
      );
    }
    log(`claim ${ns}/${name} applied; waiting for it to become Ready`);
    let last = "";
    const deadline = Date.now() + opts.readyTimeoutSeconds * 1000;
    while (Date.now() < deadline) {
      const c = await central.find<Claim>(claim.apiVersion, claim.kind, name, ns);
      const readyCond = c?.status?.conditions?.find((x) => x.type === "Ready");
      const line = `  ${elapsed().padStart(6)}  clusters ready ${c?.status?.summary?.clusters ?? "-"}  nodes ready ${c?.status?.summary?.nodes ?? "-"}  Ready=${readyCond?.status ?? "Unknown"}${readyCond?.status === "True" ? "" : `  ${readyCond?.message ?? ""}`}`;
      if (line.replace(/^\s*[\d.]+s/, "") !== last.replace(/^\s*[\d.]+s/, "")) log(line);
      last = line;
      if (readyCond?.status === "True") {
        ready = true;
        break;
      }
      await sleep(500);
    }
    if (ready && kafka) {
      const k = kafka;
      await k.readNodes();
      const asked = [...local.keys()][0] ?? "";
      log(`claim Ready; asking Kafka itself (from ${asked}) whether every node has joined`);
      try {
        await eventually(
          "Kafka reports every controller voting and every broker registered",
          async () => {
            const why = await k.notFormed(asked);
            if (why && why !== last) log(`  ${elapsed().padStart(6)}  ${why}`);
            last = why ?? "";
            return why ? undefined : true;
          },
          Math.max(10, (deadline - Date.now()) / 1000),
          2000,
        );
        log(
          `  ${elapsed().padStart(6)}  Kafka: every controller votes, every broker is registered`,
        );
        // And the controller sees it too, over its own admin channel.
        await eventually(
          "the claim's live status shows every broker registered and every voter caught up",
          async () => {
            const c = await central.find<Claim>(claim.apiVersion, claim.kind, name, ns);
            const live = c?.status?.kafka?.live;
            return live?.reachable &&
              (live.brokers ?? []).every((b) => b.state === "Registered") &&
              (live.quorum?.voters ?? []).every((v) => v.caughtUp)
              ? true
              : undefined;
          },
          Math.max(10, (deadline - Date.now()) / 1000),
          1000,
        );
        log(`  ${elapsed().padStart(6)}  the claim's live status agrees`);
      } catch {
        ready = false;
      }
    }
    log("");
    log(await claimStatus(central, name, ns));
    log("");

    const dir = cacheDir("sandbox");
    const lines = [
      ready
        ? `sandbox Ready in ${elapsed()}`
        : `the claim is not Ready after ${String(opts.readyTimeoutSeconds)}s`,
      "",
    ];
    for (const c of bed.clusters) {
      const link = join(dir, `${c.name}.kubeconfig`);
      writeFileSync(link, readFileSync(c.kubeconfigPath));
      lines.push(`  ${c.name.padEnd(8)} ${c.server}   kubectl --kubeconfig ${link}`);
    }
    lines.push(
      "",
      "try:",
      `  kubectl --kubeconfig ${join(dir, "central.kubeconfig")} get stretchkafkas -A`,
      `  kubectl --kubeconfig ${join(dir, "east.kubeconfig")} -n ${targetNamespace} get strimzipodsets,pods -o wide`,
      `  npm run stretch-kafka -- status ${name} -n ${ns} --kubeconfig ${join(dir, "central.kubeconfig")}`,
    );
    if (kafka && ready) {
      const secret = claim.spec.writeConnectionSecretToRef?.name;
      const control = await serveControl(kafka);
      cleanups.push(() => control.close());
      const conn = secret
        ? await central.find<KubeObject & { data?: Record<string, string> }>(
            "v1",
            "Secret",
            secret,
            ns,
          )
        : undefined;
      writeState(dir, kafka, control.url, conn?.data ?? {});
      lines.push("", ...usage());
    }
    log(lines.join("\n"));
  } catch (err) {
    await stop();
    throw err;
  }
  if (opts.exitWhenReady || !ready) {
    await stop();
    if (!ready)
      throw new Error(
        `the sample claim did not become Ready within ${String(opts.readyTimeoutSeconds)}s`,
      );
    return;
  }
  log("running; press Ctrl-C to stop");
  await new Promise<void>((resolve) => {
    const done = (): void => {
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
  await stop();
}
