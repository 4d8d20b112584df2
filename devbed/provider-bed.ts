/**
 * A test bed ready for the provider: a central cluster with our CRDs and the
 * provider's namespace, and remote clusters with the `kafka` namespace, each
 * registered by a ProviderConfig whose Secret holds its admin kubeconfig.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pino, type Logger } from "pino";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import type { QueueOptions } from "../controller/runtime/workqueue.ts";
import { startTestBed, type TestBed, type TestCluster } from "./clusters.ts";
import { kubeconfigCa, namespacedToken } from "../controller/register.ts";
import { installCrds } from "./install.ts";

export const group = "remote.stretchkafka.dev/v1alpha1";
export const fm = { fieldManager: "test" };
/** Quick retries, so tests of failure and recovery take seconds. */
export const fastQueue: QueueOptions = {
  concurrency: 4,
  baseDelayMs: 200,
  maxDelayMs: 2000,
  retriesPerSecond: 50,
  retryBurst: 50,
};

export function testLogger(): Logger {
  return pino({ level: process.env["LOG_LEVEL"] ?? "silent" });
}

/**
 * A RemoteConfigMap for `kafka/<remoteName>` in `cluster` (default: the
 * managed resource's name in cluster east).
 */
export function remoteConfigMap(
  name: string,
  opts: { cluster?: string; remoteName?: string; data?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: group,
    kind: "RemoteConfigMap",
    metadata: { name },
    spec: {
      providerConfigRef: { name: opts.cluster ?? "east" },
      forProvider: {
        manifest: {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: opts.remoteName ?? name,
            namespace: "kafka",
            labels: { "app.kubernetes.io/managed-by": "stretch-kafka" },
          },
          ...(opts.data ? { data: opts.data } : {}),
        },
      },
    },
  };
}

/** The cluster's API server CA (PEM), from its admin kubeconfig. */
export function serverCa(c: TestCluster): string {
  const ca = kubeconfigCa(c.kubeConfig());
  if (!ca) throw new Error(`the kubeconfig of cluster ${c.name} names no CA`);
  return ca;
}

/** A ServiceAccount in `kafka` that may only manage ConfigMaps there, and a long-lived token for it. */
export function configMapToken(remote: DynamicClient, tokenSecret: string): Promise<string> {
  return namespacedToken(remote, {
    namespace: "kafka",
    serviceAccount: "stretch-kafka",
    tokenSecret,
    rules: [
      {
        apiGroups: [""],
        resources: ["configmaps"],
        verbs: ["get", "list", "watch", "create", "patch", "delete"],
      },
    ],
  });
}

/**
 * Registers `cluster` by server, CA and `token`: its credentials Secret (written
 * again on each call, as a rotation does) and a ProviderConfig in Token format.
 */
export async function registerWithToken(
  pb: ProviderBed,
  cluster: string,
  token: string,
): Promise<void> {
  const c = pb.bed.cluster(cluster);
  await pb.central.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `${cluster}-credentials`, namespace: "stretch-kafka-system" },
      stringData: { server: c.server, "ca.crt": serverCa(c), token },
    },
    fm,
  );
  await pb.central.apply(
    {
      apiVersion: group,
      kind: "ProviderConfig",
      metadata: { name: cluster },
      spec: {
        credentials: {
          source: "Secret",
          format: "Token",
          secretRef: { namespace: "stretch-kafka-system", name: `${cluster}-credentials` },
        },
      },
    },
    fm,
  );
}

const cli = fileURLToPath(new URL("../controller/cli/main.ts", import.meta.url));

/** Node.js arguments that run `stretch-kafka ARGS` from source (with process.execPath). */
export function cliArgs(...args: string[]): string[] {
  return ["--import", "tsx", cli, ...args];
}

/** `stretch-kafka provider` in its own process, against the bed's central cluster. */
export function spawnProvider(pb: ProviderBed, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    cliArgs(
      "provider",
      "--kubeconfig",
      pb.bed.cluster("central").kubeconfigPath,
      "--log-level",
      "warn",
      ...args,
    ),
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}

export interface ProviderBed {
  bed: TestBed;
  central: DynamicClient;
  remote(name: string): DynamicClient;
  close(): Promise<void>;
}

export async function providerBed(opts: {
  remotes: string[];
  /** Install Strimzi's and MCS's CRDs in the remote clusters. */
  strimzi?: boolean;
  /** Register each remote with a kubeconfig ProviderConfig (default true). */
  register?: boolean;
  remoteTimeoutMs?: number;
  /** More fields of each ProviderConfig's spec. */
  providerConfig?: Record<string, unknown>;
}): Promise<ProviderBed> {
  const bed = await startTestBed({ names: ["central", ...opts.remotes] });
  const central = new DynamicClient(bed.cluster("central").kubeConfig());
  const remotes = new Map<string, DynamicClient>();
  const close = async (): Promise<void> => {
    for (const c of remotes.values()) await c.close();
    await central.close();
    await bed.close();
  };
  try {
    await installCrds(bed.cluster("central").kubeConfig(), {
      crossplane: false,
      mcs: false,
      strimzi: false,
    });
    await central.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "stretch-kafka-system" } },
      fm,
    );
    for (const name of opts.remotes) {
      const c = bed.cluster(name);
      if (opts.strimzi) await installCrds(c.kubeConfig(), { crossplane: false, ours: false });
      const client = new DynamicClient(
        c.kubeConfig(),
        opts.remoteTimeoutMs ? { timeoutMs: opts.remoteTimeoutMs } : {},
      );
      remotes.set(name, client);
      await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "kafka" } }, fm);
      if (opts.register ?? true) {
        await central.apply(
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: `${name}-credentials`, namespace: "stretch-kafka-system" },
            stringData: { kubeconfig: readFileSync(c.kubeconfigPath, "utf8") },
          },
          fm,
        );
        await central.apply(
          {
            apiVersion: group,
            kind: "ProviderConfig",
            metadata: { name },
            spec: {
              credentials: {
                source: "Secret",
                secretRef: { namespace: "stretch-kafka-system", name: `${name}-credentials` },
              },
              ...opts.providerConfig,
            },
          },
          fm,
        );
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    bed,
    central,
    remote: (name) => {
      const c = remotes.get(name);
      if (!c) throw new Error(`no remote cluster ${name} in this test bed`);
      return c;
    },
    close,
  };
}
