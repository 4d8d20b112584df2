/**
 * Real Crossplane core on a test-bed API server, and what it needs around it:
 *
 * - `crossplane core init` then `crossplane core start` as processes (the
 *   binary built from the same module as the CLI), package runtime
 *   `External`: Crossplane fetches, unpacks and installs packages, and runs no
 *   Deployments, Services or TLS Secrets for them;
 * - an OCI registry on 127.0.0.1 (go-containerregistry's) that packages are
 *   pushed to with `crossplane xpkg push` and pulled from by Crossplane;
 * - the package runtime, played (`PackageRuntime`): for each active revision
 *   of our Function it issues the server certificate from crossplane-root-ca
 *   (as Crossplane's own runtime does), starts `stretch-kafka function` with
 *   it and reports `status.endpoint`; for our Provider it starts
 *   `stretch-kafka provider`. Nothing else is played.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { playStrimzi } from "./strimzi-player.ts";
import { DynamicClient, KubeApiError, type KubeObject } from "../controller/kube/dynamic.ts";
import { registerCluster } from "../controller/register.ts";
import { groups, type Condition } from "../apis/index.ts";
import { installedName, packages, version, type PackageKind } from "../package/contents.ts";
import { buildPackages } from "./packages.ts";
import { crankBinary, crossplaneCoreBinary, registryBinary } from "./build.ts";
import { freePort, startTestBed, stopProcess, type TestBed, type TestCluster } from "./clusters.ts";
import { installCrds } from "./install.ts";
import { cliArgs, serverCa, testLogger } from "./provider-bed.ts";
import { crossplaneLeaf, writeTlsDir, type Pem } from "./crossplane-tls.ts";
import { eventually } from "./eventually.ts";
import { externalCrds } from "./external-crds.ts";
import { run, RunError } from "./run.ts";

export const crossplaneNamespace = "crossplane-system";
const fm = { fieldManager: "test-bed-package-runtime" };

/** Starts `cmd`, its output appended to `logFile`. */
function startLogged(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
): ChildProcess {
  const out = createWriteStream(logFile, { flags: "a" });
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  return child;
}

export interface Registry {
  /** host:port on 127.0.0.1 */
  address: string;
  stop(): Promise<void>;
}

/** An OCI registry on 127.0.0.1, in memory. */
export async function startRegistry(work: string): Promise<Registry> {
  const bin = (await registryBinary()).path;
  const child = spawn(bin, ["-address", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.pipe(createWriteStream(join(work, "registry.log"), { flags: "a" }));
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => {
      reject(new Error(`the registry exited with ${String(code)}`));
    });
  });
  return { address, stop: () => stopProcess(child) };
}

/** Pushes a built .xpkg to `ref` with the real crossplane CLI. */
export async function pushPackage(file: string, ref: string): Promise<void> {
  const crank = (await crankBinary()).path;
  await run(crank, ["xpkg", "push", "--package-files", file, ref]);
}

export interface CrossplaneCore {
  /** crossplane-root-ca: the CA a package runtime issues function server certificates from. */
  rootCa: Pem;
  /** Directory with the client certificate Crossplane presents to functions. */
  clientTlsDir: string;
  /** Crossplane's log. */
  logFile: string;
  /** Its metrics endpoint (a restart moves it). */
  metricsUrl: string;
  stop(): Promise<void>;
  /**
   * Stops and starts it again with the same flags: what it keeps in memory
   * (each XR's circuit breaker, its metrics) starts afresh, as after an
   * upgrade of Crossplane or a new leader.
   */
  restart(): Promise<void>;
}

async function secretData(central: DynamicClient, name: string): Promise<Record<string, string>> {
  const s = await central.get<KubeObject & { data?: Record<string, string> }>(
    "v1",
    "Secret",
    name,
    crossplaneNamespace,
  );
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
  );
}

/**
 * `crossplane core init` and `crossplane core start` against `cluster`, with
 * the External package runtime and webhooks off (no Service can reach a
 * process here). `args` are added to `core start`.
 */
export async function startCrossplaneCore(
  cluster: TestCluster,
  work: string,
  args: string[] = [],
): Promise<CrossplaneCore> {
  const bin = (await crossplaneCoreBinary()).path;
  const crds = (await externalCrds()).crossplane[0];
  if (!crds) throw new Error("the crossplane module has no CRDs");
  const logFile = join(work, "crossplane.log");
  const central = new DynamicClient(cluster.kubeConfig());
  try {
    await central.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: crossplaneNamespace } },
      fm,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: cluster.kubeconfigPath,
      POD_NAMESPACE: crossplaneNamespace,
      POD_SERVICE_ACCOUNT: "crossplane",
      ENABLE_WEBHOOKS: "false",
      TLS_CA_SECRET_NAME: "crossplane-root-ca",
      TLS_CLIENT_SECRET_NAME: "crossplane-tls-client",
    };
    // A first init can race the CRDs it creates ("no matches for kind Lock").
    await eventually(
      "crossplane core init succeeds",
      async () => {
        try {
          await run(bin, ["core", "init"], { env: { ...env, CRDS_PATH: dirname(crds) } });
          return true;
        } catch (err) {
          if (err instanceof RunError) {
            createWriteStream(logFile, { flags: "a" }).end(err.stdout + err.stderr);
            return undefined;
          }
          throw err;
        }
      },
      120,
      1000,
    );
    const clientTlsDir = join(work, "crossplane-tls-client");
    mkdirSync(clientTlsDir, { recursive: true });
    const client = await secretData(central, "crossplane-tls-client");
    writeTlsDir(
      clientTlsDir,
      { cert: client["tls.crt"] ?? "", key: client["tls.key"] ?? "" },
      client["ca.crt"] ?? "",
    );
    const ca = await secretData(central, "crossplane-root-ca");
    mkdirSync(join(work, "xpkg-cache"), { recursive: true });
    const start = async (): Promise<{ child: ChildProcess; metricsUrl: string }> => {
      const metricsPort = await freePort();
      const child = startLogged(
        bin,
        [
          "core",
          "start",
          "--package-runtime=External",
          `--metrics-port=${String(metricsPort)}`,
          `--health-probe-port=${String(await freePort())}`,
          // STRETCH_KAFKA_CROSSPLANE_DEBUG=1: every reconcile in the log (with STRETCH_KAFKA_KEEP_BED=1).
          ...(process.env["STRETCH_KAFKA_CROSSPLANE_DEBUG"] === "1" ? ["--debug"] : []),
          ...args,
        ],
        {
          ...env,
          TLS_CLIENT_CERTS_DIR: clientTlsDir,
          XPKG_CACHE_DIR: join(work, "xpkg-cache"),
        },
        logFile,
      );
      return { child, metricsUrl: `http://127.0.0.1:${String(metricsPort)}/metrics` };
    };
    let running = await start();
    const core: CrossplaneCore = {
      rootCa: { cert: ca["tls.crt"] ?? "", key: ca["tls.key"] ?? "" },
      clientTlsDir,
      logFile,
      metricsUrl: running.metricsUrl,
      stop: () => stopProcess(running.child),
      restart: async () => {
        await stopProcess(running.child);
        running = await start();
        core.metricsUrl = running.metricsUrl;
      },
    };
    return core;
  } finally {
    await central.close();
  }
}

interface Revision extends KubeObject {
  spec: { desiredState: string; image?: string; tlsServerSecretName?: string };
  status?: { endpoint?: string; tlsServerSecretName?: string };
}

/**
 * Plays Crossplane's package runtime for the project's Function and
 * Provider: what a Deployment-based runtime would run in pods runs here as
 * processes. `repository` picks our packages out of every revision.
 */
export class PackageRuntime {
  private readonly processes = new Map<string, ChildProcess>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  /** Revisions handed a process, by name. */
  readonly started: string[] = [];

  constructor(
    private readonly central: DynamicClient,
    private readonly core: CrossplaneCore,
    private readonly o: {
      work: string;
      kubeconfigPath: string;
      /** Arguments added to `stretch-kafka function`. */
      functionArgs?: string[];
      /** Arguments added to `stretch-kafka provider`. */
      providerArgs?: string[];
    },
  ) {}

  /** Looks at the revisions every half second; a runtime would watch its Deployments. */
  start(): void {
    const tick = (): void => {
      if (this.busy || this.stopped) return;
      this.busy = true;
      this.reconcile()
        .catch((err: unknown) => {
          createWriteStream(join(this.o.work, "package-runtime.log"), { flags: "a" }).end(
            `${new Date().toISOString()} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
          );
        })
        .finally(() => {
          this.busy = false;
        });
    };
    this.timer = setInterval(tick, 500);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([...this.processes.values()].map((p) => stopProcess(p)));
  }

  /** The process run for a revision, e.g. to kill it. */
  process(revision: string): ChildProcess | undefined {
    return this.processes.get(revision);
  }

  private async reconcile(): Promise<void> {
    for (const kind of ["FunctionRevision", "ProviderRevision"] as const) {
      const list = await this.central.list<Revision>("pkg.crossplane.io/v1", kind);
      for (const rev of list.items) {
        const name = rev.metadata.name ?? "";
        const active = rev.spec.desiredState === "Active";
        const running = this.processes.get(name);
        if (!active) {
          if (running) {
            this.processes.delete(name);
            await stopProcess(running);
          }
          continue;
        }
        if (running && running.exitCode === null && running.signalCode === null) continue;
        if (kind === "FunctionRevision") await this.runFunction(rev);
        else await this.runProvider(rev);
        this.started.push(name);
      }
    }
  }

  /**
   * What a runtime gives every revision: a server certificate from
   * crossplane-root-ca in the TLS Secret the revision names (Crossplane reads
   * its tls.crt for webhooks), written also as a directory for the process.
   */
  private async tlsFor(rev: Revision): Promise<{ secretName: string; dir: string }> {
    const name = rev.metadata.name ?? "";
    const leaf = await crossplaneLeaf(this.core.rootCa, "server", {
      dns: [name, "localhost"],
      ip: ["127.0.0.1"],
    });
    const secretName = rev.spec.tlsServerSecretName ?? `${name}-tls-server`;
    await this.central.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: secretName, namespace: crossplaneNamespace },
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": leaf.cert, "tls.key": leaf.key, "ca.crt": this.core.rootCa.cert },
      },
      fm,
    );
    return {
      secretName,
      dir: writeTlsDir(join(this.o.work, "tls", name), leaf, this.core.rootCa.cert),
    };
  }

  /** Reports the runtime's side of a revision's status, as a Deployment runtime would. */
  private async report(
    kind: "FunctionRevision" | "ProviderRevision",
    name: string,
    status: { tlsServerSecretName: string; endpoint?: string },
  ): Promise<void> {
    await this.central.apply(
      {
        apiVersion: "pkg.crossplane.io/v1",
        kind,
        metadata: { name },
        status: {
          ...status,
          conditions: [
            {
              type: "RuntimeHealthy",
              status: "True",
              reason: "HealthyPackageRuntime",
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
            },
          ],
        },
      },
      { ...fm, subresource: "status" },
    );
  }

  private async runFunction(rev: Revision): Promise<void> {
    const name = rev.metadata.name ?? "";
    const port = await freePort();
    const { secretName, dir } = await this.tlsFor(rev);
    const log = join(this.o.work, `${name}.log`);
    const child = startLogged(
      process.execPath,
      cliArgs(
        "function",
        "--address",
        `127.0.0.1:${String(port)}`,
        "--tls-server-certs-dir",
        dir,
        // STRETCH_KAFKA_CROSSPLANE_DEBUG=1: each call, its composite's version and readiness in the log.
        ...(process.env["STRETCH_KAFKA_CROSSPLANE_DEBUG"] === "1" ? ["--debug"] : []),
        ...(this.o.functionArgs ?? []),
      ),
      process.env,
      log,
    );
    this.processes.set(name, child);
    await this.serving(log, child);
    await this.report("FunctionRevision", name, {
      tlsServerSecretName: secretName,
      endpoint: `127.0.0.1:${String(port)}`,
    });
  }

  private async runProvider(rev: Revision): Promise<void> {
    const name = rev.metadata.name ?? "";
    const { secretName } = await this.tlsFor(rev);
    const child = startLogged(
      process.execPath,
      cliArgs(
        "provider",
        "--kubeconfig",
        this.o.kubeconfigPath,
        "--namespace",
        crossplaneNamespace,
        ...(this.o.providerArgs ?? []),
      ),
      process.env,
      join(this.o.work, `${name}.log`),
    );
    this.processes.set(name, child);
    await this.report("ProviderRevision", name, { tlsServerSecretName: secretName });
  }

  /** Resolves once the function's log says it serves. */
  private async serving(logFile: string, child: ChildProcess): Promise<void> {
    await eventually(
      "the function serves",
      () => {
        if (child.exitCode !== null)
          throw new Error(`the function exited: ${readFileSync(logFile, "utf8").slice(-2000)}`);
        try {
          return readFileSync(logFile, "utf8").includes("serving") ? true : undefined;
        } catch (err) {
          if (err instanceof Error && "code" in err && err.code === "ENOENT") return undefined;
          throw err;
        }
      },
      60,
      100,
    );
  }
}

/** The named object's conditions, `type=status` each, for failure messages. */
export async function conditionsOf(
  central: DynamicClient,
  apiVersion: string,
  kind: string,
  name: string,
  namespace?: string,
): Promise<string> {
  try {
    const o = await central.get<
      KubeObject & {
        status?: {
          conditions?: { type: string; status: string; reason?: string; message?: string }[];
        };
      }
    >(apiVersion, kind, name, namespace);
    return (o.status?.conditions ?? [])
      .map((c) => `${c.type}=${c.status} ${c.reason ?? ""} ${c.message ?? ""}`)
      .join("; ");
  } catch (err) {
    if (err instanceof KubeApiError && err.code === 404) return "absent";
    throw err;
  }
}

/** Everything a claim needs under real Crossplane: clusters, Crossplane, packages, runtime, Strimzi played. */
export interface CrossplaneBed {
  bed: TestBed;
  central: DynamicClient;
  remotes: Map<string, DynamicClient>;
  core: CrossplaneCore;
  runtime: PackageRuntime;
  registry: Registry;
  /** The package references installed, by kind. */
  refs: Record<PackageKind, string>;
  work: string;
  close(): Promise<void>;
}

/**
 * Starts a central and `remoteNames` remote clusters, Crossplane core on the
 * central one, builds the packages with `npm run package`'s code, pushes them
 * to the loopback registry, installs the Configuration and lets Crossplane
 * resolve the Function and the Provider, plays their runtime, registers the
 * remote clusters (ProviderConfigs in crossplane-system, where Crossplane runs
 * the provider) and plays Strimzi in each.
 */
export async function crossplaneBed(
  remoteNames: string[],
  o: { log?: (m: string) => void; coreArgs?: string[]; targetNamespace?: string } = {},
): Promise<CrossplaneBed> {
  const log = o.log ?? (() => {});
  const targetNamespace = o.targetNamespace ?? "kafka";
  const work = mkdtempSync(join(tmpdir(), "stretch-kafka-crossplane-"));
  const bed = await startTestBed({ names: ["central", ...remoteNames] });
  const closers: (() => Promise<void>)[] = [() => bed.close()];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
    // STRETCH_KAFKA_KEEP_BED=1 keeps Crossplane's, the function's and the provider's logs.
    if (process.env["STRETCH_KAFKA_KEEP_BED"]) console.error(`[crossplane bed] kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  };
  try {
    const c = bed.cluster("central");
    const central = new DynamicClient(c.kubeConfig());
    closers.push(() => central.close());
    const remotes = new Map(
      remoteNames.map((n) => [n, new DynamicClient(bed.cluster(n).kubeConfig())]),
    );
    closers.push(async () => {
      for (const r of remotes.values()) await r.close();
    });
    await Promise.all(
      remoteNames.map((n) =>
        installCrds(bed.cluster(n).kubeConfig(), { crossplane: false, ours: false }),
      ),
    );
    const registry = await startRegistry(work);
    closers.push(() => registry.stop());
    log(`registry on ${registry.address}; starting Crossplane core`);
    const core = await startCrossplaneCore(c, work, o.coreArgs);
    closers.push(() => core.stop());

    const repository = `${registry.address}/stretch-kafka`;
    const files = await buildPackages(join(work, "dist"), { registry: repository, log });
    const refs = {} as Record<PackageKind, string>;
    for (const kind of Object.keys(packages) as PackageKind[]) {
      refs[kind] = `${repository}/${packages[kind]}:${version()}`;
      await pushPackage(files[kind], refs[kind]);
    }
    log("packages pushed; installing the Configuration");
    const runtime = new PackageRuntime(central, core, { work, kubeconfigPath: c.kubeconfigPath });
    runtime.start();
    closers.push(() => runtime.stop());
    await central.apply(
      {
        apiVersion: "pkg.crossplane.io/v1",
        kind: "Configuration",
        metadata: { name: "stretch-kafka" },
        spec: { package: refs.configuration },
      },
      fm,
    );
    for (const [kind, ref] of Object.entries(refs)) {
      const name = installedName(ref);
      const kindName =
        kind === "configuration" ? "Configuration" : kind === "function" ? "Function" : "Provider";
      const objectName = kind === "configuration" ? "stretch-kafka" : name;
      await eventually(
        `${kindName} ${objectName} is installed and healthy`,
        async () => {
          const conds = await conditionsOf(central, "pkg.crossplane.io/v1", kindName, objectName);
          if (/Healthy=True/.test(conds) && /Installed=True/.test(conds)) return true;
          throw new Error(conds);
        },
        240,
        500,
      );
    }
    log("packages healthy; registering the remote clusters");
    for (const n of remoteNames) {
      const rc = bed.cluster(n);
      await registerCluster(
        {
          name: n,
          remote: remotes.get(n) ?? central,
          central,
          namespace: targetNamespace,
          providerNamespace: crossplaneNamespace,
          server: rc.server,
          serverCa: serverCa(rc),
        },
        () => {},
      );
    }
    // Handed over once the provider has taken up every cluster (Ready, its
    // finalizer on), as an administrator sees it before any claim: otherwise
    // the provider's first writes of each ProviderConfig fall in the first
    // claim's life, and Crossplane's breaker counts them against it.
    for (const n of remoteNames)
      await eventually(
        `ProviderConfig ${n} is Ready`,
        async () => {
          const pc = await central.find<KubeObject & { status?: { conditions?: Condition[] } }>(
            groups.remote,
            "ProviderConfig",
            n,
          );
          return pc?.metadata.finalizers?.length &&
            pc.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
            ? true
            : undefined;
        },
        120,
        250,
      );
    const players = playStrimzi(remotes, targetNamespace, testLogger());
    closers.push(async () => {
      await Promise.all(players.map((p) => p.stop()));
    });
    return { bed, central, remotes, core, runtime, registry, refs, work, close };
  } catch (err) {
    await close();
    throw err;
  }
}
