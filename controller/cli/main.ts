#!/usr/bin/env node
/** The `stretch-kafka` command. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { KubeObject } from "../../functions/render.ts";
import { describeError } from "../kube/errors.ts";
import { DynamicClient } from "../kube/dynamic.ts";
import { defaultQueueOptions } from "../runtime/workqueue.ts";
import { loadKubeConfig } from "./kubeconfig.ts";
import type { RuntimeOptions } from "./run.ts";

// Each command loads what it runs when it runs (import() in its action): a
// provider never loads the function server or the engine, a function never
// loads the provider (ADR 0022).

async function readObjects(file: string): Promise<KubeObject[]> {
  const { parseAllDocuments } = await import("yaml");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new Error(`cannot read ${file}`, { cause });
  }
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0)
        throw new Error(`${file} is not valid YAML: ${d.errors[0]?.message ?? ""}`);
      return d.toJS() as unknown;
    })
    .filter((o): o is KubeObject => o !== null && typeof o === "object");
}

const program = new Command("stretch-kafka")
  .description("Apache Kafka (KRaft) stretched across Kubernetes clusters, the Crossplane way")
  .showHelpAfterError();

program
  .command("render")
  .description(
    "print the composite with its status and every managed resource, like crossplane render with the shipped Composition",
  )
  .argument(
    "<file>",
    "an XStretchKafka, a StretchKafka claim, or a namespaced v2 StretchKafka (kafka.stretchkafka.dev) (YAML)",
  )
  .option(
    "--observed <file>",
    "observed managed resources (YAML stream), as Crossplane would pass them",
  )
  .option(
    "--required-resources <file>",
    "objects the function may ask for (the clusters' ProviderConfigs, or ClusterProviderConfigs for a v2 StretchKafka), like crossplane render's flag",
  )
  .action(async (file: string, o: { observed?: string; requiredResources?: string }) => {
    const { render, shippedInput, toYamlStream } = await import("../../functions/render.ts");
    const [xr] = await readObjects(file);
    if (!xr) throw new Error(`${file} holds no object`);
    const observed = o.observed ? await readObjects(o.observed) : [];
    const required = o.requiredResources ? await readObjects(o.requiredResources) : [];
    try {
      process.stdout.write(toYamlStream(render(xr, observed, required, undefined, shippedInput)));
    } catch (err) {
      if (!o.requiredResources && String(err).includes("ProviderConfig")) {
        throw new Error(
          "render needs the clusters' ProviderConfigs: pass them with --required-resources",
          { cause: err },
        );
      }
      throw err;
    }
  });

program
  .command("function")
  .description("serve function-stretch-kafka over gRPC (Crossplane's function protocol)")
  .option("--address <address>", "address to listen on", "0.0.0.0:9443")
  .option("--insecure", "serve without TLS (development only)")
  .option(
    "--tls-server-certs-dir <dir>",
    "directory with tls.crt, tls.key and ca.crt",
    "/tls/server",
  )
  .option(
    "--response-cache-mib <n>",
    "MiB of responses kept for repeated identical requests (0: none)",
    "64",
  )
  .option(
    "--max-response-mib <n>",
    "largest response sent; a larger one becomes a fatal result (0: no limit; 4 is what Crossplane accepts)",
    "4",
  )
  .option("--debug", "log every call")
  .action(
    async (o: {
      address: string;
      insecure?: boolean;
      tlsServerCertsDir: string;
      responseCacheMib: string;
      maxResponseMib: string;
      debug?: boolean;
    }) => {
      const { newLogger } = await import("../log.ts");
      const { serve } = await import("../../functions/server.ts");
      const { compose } = await import("../../functions/stretch-kafka/compose.ts");
      const log = newLogger({ name: "function-stretch-kafka", level: o.debug ? "debug" : "info" });
      const served = await serve(
        compose,
        {
          address: o.address,
          insecure: o.insecure ?? false,
          tlsServerCertsDir: o.tlsServerCertsDir,
          responseCacheBytes: nonNegative("--response-cache-mib", o.responseCacheMib) * 1048576,
          maxResponseBytes: nonNegative("--max-response-mib", o.maxResponseMib) * 1048576,
        },
        log,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void served.shutdown().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    },
  );

/** Options shared by `provider` and `controller`. */
function runtimeOptions(cmd: Command): Command {
  return cmd
    .option(
      "--kubeconfig <file>",
      "kubeconfig of the central cluster (default: $KUBECONFIG, ~/.kube/config or in-cluster)",
    )
    .option(
      "--namespace <ns>",
      "namespace of the controller's own Secrets (the CAs) and its Lease (default: $POD_NAMESPACE, which Crossplane sets for providers, else stretch-kafka-system)",
      process.env["POD_NAMESPACE"] ?? "stretch-kafka-system",
    )
    .option("--concurrency <n>", "reconciles at once", String(defaultQueueOptions.concurrency))
    .option("--log-level <level>", "pino log level", "info")
    .option("--http-address <address>", "address of /healthz, /readyz and /metrics", "0.0.0.0:8080")
    .option("--no-leader-elect", "act without taking the leader Lease (a single replica only)")
    .option("--lease-duration-seconds <s>", "leader Lease duration", "15")
    .option(
      "--renew-deadline-seconds <s>",
      "how long a leader may fail to renew before it stops",
      "10",
    )
    .option("--retry-period-seconds <s>", "how often candidates try and leaders renew", "2")
    .option(
      "--kafka-admin-interval-seconds <s>",
      "how often each Kafka cluster is asked for its live status over the admin channel",
      "30",
    )
    .option(
      "--kafka-admin-concurrency <n>",
      "how many Kafka clusters are asked at once (one connection each)",
      "4",
    )
    .option("--no-kafka-admin", "never connect to Kafka (no live status, no DataAtRisk)");
}

runtimeOptions(
  program
    .command("provider")
    .description("run the provider: materialize managed resources in the remote clusters"),
).action(async (o: RuntimeOptions) => {
  const { runController } = await import("./run.ts");
  await runController(o, false);
});

runtimeOptions(
  program
    .command("controller")
    .description(
      "run the provider and the composition engine (standalone, without Crossplane): claims to remote objects and status back",
    ),
)
  .option(
    "--function <name=address>",
    "run this Composition function over gRPC at address (repeatable); stretch-kafka-function-stretch-kafka (function-stretch-kafka) runs in-process unless given",
    (v: string, all: string[]) => [...all, v],
    [] as string[],
  )
  .option(
    "--function-tls-certs-dir <dir>",
    "client certificate for the functions (tls.crt, tls.key, ca.crt); plain text without it",
  )
  .action(async (o: RuntimeOptions & { function: string[]; functionTlsCertsDir?: string }) => {
    const { overGrpc } = await import("../engine/pipeline.ts");
    const { runController } = await import("./run.ts");
    const functions = new Map<string, ReturnType<typeof overGrpc>>();
    for (const f of o.function) {
      const [name, address] = f.split("=", 2);
      if (!name || !address)
        throw new Error(
          `--function takes NAME=HOST:PORT, e.g. stretch-kafka-function-stretch-kafka=localhost:9443; not ${f}`,
        );
      functions.set(name, overGrpc(address, o.functionTlsCertsDir));
    }
    await runController(o, true, functions);
  });

program
  .command("register-cluster")
  .description(
    "give the provider a least-privilege identity in a remote cluster and register it centrally (safe to run twice)",
  )
  .argument("<name>", "the ProviderConfig's name, which claims use for this cluster")
  .requiredOption(
    "--remote-kubeconfig <file>",
    "admin kubeconfig of the remote cluster (used once, never stored)",
  )
  .option(
    "--kubeconfig <file>",
    "kubeconfig of the central cluster (default: $KUBECONFIG or ~/.kube/config)",
  )
  .option(
    "--target-namespace <ns>",
    "the remote namespace Kafka runs in (claims' spec.targetNamespace)",
    "kafka",
  )
  .option(
    "--namespace <ns>",
    "the provider's namespace in the central cluster",
    "stretch-kafka-system",
  )
  .option(
    "--server <url>",
    "the remote API server as the provider reaches it (default: from the remote kubeconfig)",
  )
  .action(
    async (
      name: string,
      o: {
        remoteKubeconfig: string;
        kubeconfig?: string;
        targetNamespace: string;
        namespace: string;
        server?: string;
      },
    ) => {
      const { kubeconfigCa, registerCluster } = await import("../register.ts");
      const remoteKc = loadKubeConfig(o.remoteKubeconfig);
      const cluster = remoteKc.getCurrentCluster();
      if (!cluster) throw new Error(`${o.remoteKubeconfig} has no current cluster`);
      const ca = kubeconfigCa(remoteKc);
      if (!ca)
        throw new Error(
          `${o.remoteKubeconfig} names no CA for ${cluster.server}; the provider verifies the server, so give a kubeconfig with certificate-authority(-data)`,
        );
      const remote = new DynamicClient(remoteKc);
      const central = new DynamicClient(loadKubeConfig(o.kubeconfig));
      try {
        await registerCluster(
          {
            name,
            remote,
            central,
            namespace: o.targetNamespace,
            providerNamespace: o.namespace,
            server: o.server ?? cluster.server,
            serverCa: ca,
          },
          (what) => {
            console.log(what);
          },
        );
        console.log(`registered ${name}: claims can now use providerConfigRef: { name: ${name} }`);
      } finally {
        await remote.close();
        await central.close();
      }
    },
  );

program
  .command("status")
  .description("a claim at a glance: claim → clusters → pools → pods ready, with conditions")
  .argument("<name>", "the StretchKafka claim")
  .option("-n, --namespace <ns>", "the claim's namespace", "default")
  .option(
    "--kubeconfig <file>",
    "kubeconfig of the central cluster (default: $KUBECONFIG or ~/.kube/config)",
  )
  .action(async (name: string, o: { namespace: string; kubeconfig?: string }) => {
    const { claimStatus } = await import("./status.ts");
    const central = new DynamicClient(loadKubeConfig(o.kubeconfig));
    try {
      console.log(await claimStatus(central, name, o.namespace));
    } finally {
      await central.close();
    }
  });

program
  .command("backup")
  .description(
    "print what the central cluster holds that Git does not: each claim's composite, its status and its CAs (private keys: keep the output as a Secret is kept)",
  )
  .argument("[name]", "one StretchKafka claim (default: every claim)")
  .option("-n, --namespace <ns>", "the claims' namespace (default: every namespace)")
  .option(
    "--provider-namespace <ns>",
    "the provider's namespace in the central cluster",
    "stretch-kafka-system",
  )
  .option(
    "--kubeconfig <file>",
    "kubeconfig of the central cluster (default: $KUBECONFIG or ~/.kube/config)",
  )
  .action(
    async (
      name: string | undefined,
      o: { namespace?: string; providerNamespace: string; kubeconfig?: string },
    ) => {
      if (name && !o.namespace) o.namespace = "default";
      const { takeBackup } = await import("../backup.ts");
      const { stringify } = await import("yaml");
      const central = new DynamicClient(loadKubeConfig(o.kubeconfig));
      try {
        const backup = await takeBackup(central, {
          providerNamespace: o.providerNamespace,
          ...(o.namespace ? { namespace: o.namespace } : {}),
          ...(name ? { name } : {}),
        });
        process.stdout.write(stringify(backup));
      } finally {
        await central.close();
      }
    },
  );

program
  .command("restore")
  .description(
    "restore a backup into a new central cluster, so that its claims adopt the running Kafka clusters (docs/operations.md)",
  )
  .requiredOption("-f, --file <file>", "what `stretch-kafka backup` printed")
  .requiredOption(
    "--composer <standalone|crossplane>",
    "what composes the claims here: the standalone controller or Crossplane",
  )
  .option(
    "--provider-namespace <ns>",
    "the provider's namespace in the central cluster",
    "stretch-kafka-system",
  )
  .option(
    "--kubeconfig <file>",
    "kubeconfig of the central cluster (default: $KUBECONFIG or ~/.kube/config)",
  )
  .action(
    async (o: {
      file: string;
      composer: string;
      providerNamespace: string;
      kubeconfig?: string;
    }) => {
      const { composers, restoreBackup } = await import("../backup.ts");
      if (!(o.composer in composers))
        throw new Error(`--composer must be standalone or crossplane, not ${o.composer}`);
      const [list] = await readObjects(o.file);
      const items = (list as { items?: KubeObject[] } | undefined)?.items;
      if (list?.kind !== "List" || !items)
        throw new Error(`${o.file} is not what stretch-kafka backup prints (a v1 List)`);
      const central = new DynamicClient(loadKubeConfig(o.kubeconfig));
      try {
        await restoreBackup(central, items, {
          providerNamespace: o.providerNamespace,
          composer: o.composer as keyof typeof composers,
          report: (m) => {
            console.log(m);
          },
        });
      } finally {
        await central.close();
      }
    },
  );

function nonNegative(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be 0 or more, not ${value}`);
  return n;
}

// A reader that stops early (`| head`) is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  process.exit(err.code === "EPIPE" ? 0 : 1);
});

try {
  await program.parseAsync();
} catch (err) {
  console.error(`stretch-kafka: ${describeError(err)}`);
  process.exit(1);
}
