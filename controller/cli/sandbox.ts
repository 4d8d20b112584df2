/**
 * `stretch-kafka sandbox`: a local multi-cluster sandbox on real API servers.
 * Starts a central and three remote Kubernetes control planes (the test bed),
 * installs every CRD (ours and the real ones of Crossplane, MCS and Strimzi),
 * applies a sample claim, prints how to reach each cluster, and keeps running
 * until interrupted.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { DynamicClient, type KubeObject } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import { startTestBed, type TestBed } from "../../test/bed/clusters.ts";
import { installCrds } from "../../test/bed/install.ts";
import { cacheDir } from "../../test/bed/cache.ts";

export interface SandboxOptions {
  /** Exit 0 once everything is up instead of running until interrupted. */
  exitWhenReady: boolean;
  claimFile: string;
  log: (msg: string) => void;
}

export const defaultClaimFile = fileURLToPath(
  new URL("../../examples/claim-3-clusters.yaml", import.meta.url),
);

const remoteNames = ["east", "west", "north"];

export async function sandbox(opts: SandboxOptions): Promise<void> {
  const { log } = opts;
  const claim = parse(readFileSync(opts.claimFile, "utf8")) as KubeObject;
  const started = Date.now();
  log("starting a central and three remote Kubernetes control planes (real kube-apiserver + etcd)");
  const bed: TestBed = await startTestBed({ names: ["central", ...remoteNames], log });
  const stop = async (): Promise<void> => {
    log("tearing the sandbox down");
    await bed.close();
  };
  try {
    log("installing CRDs: stretch-kafka, Crossplane, MCS and Strimzi");
    await Promise.all(bed.clusters.map((c) => installCrds(c.kubeConfig())));

    const central = new DynamicClient(bed.cluster("central").kubeConfig());
    const ns = claim.metadata.namespace ?? "default";
    await central.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
      { fieldManager: "stretch-kafka-sandbox" },
    );
    try {
      await central.apply(claim, { fieldManager: "stretch-kafka-sandbox" });
    } catch (err) {
      throw new Error(
        `the API server refused the sample claim ${opts.claimFile}: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    }
    await central.close();

    const dir = cacheDir("sandbox");
    const lines = [`sandbox ready in ${((Date.now() - started) / 1000).toFixed(1)}s`, ""];
    for (const c of bed.clusters) {
      const link = join(dir, `${c.name}.kubeconfig`);
      writeFileSync(link, readFileSync(c.kubeconfigPath));
      lines.push(`  ${c.name.padEnd(8)} ${c.server}   kubectl --kubeconfig ${link}`);
    }
    lines.push(
      "",
      `claim ${ns}/${claim.metadata.name ?? ""} applied to central:`,
      `  kubectl --kubeconfig ${join(dir, "central.kubeconfig")} get stretchkafkas -A`,
    );
    log(lines.join("\n"));
  } catch (err) {
    await stop();
    throw err;
  }
  if (opts.exitWhenReady) {
    await stop();
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
