/**
 * What the three Crossplane packages and the standalone install contain,
 * assembled from the sources they are made of (never committed twice, so
 * they cannot drift): each package's crossplane.yaml here, the generated
 * CRDs and XRD, the Composition, the examples; the standalone install's
 * CRDs, controller, RBAC and monitoring; the remote identity register-cluster
 * creates. Building them (`crossplane xpkg build`) and fetching the
 * Composition CRD of Crossplane's module is devbed/packages.ts
 * (`npm run package`).
 */
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { manifestYaml } from "../apis/yaml.ts";
import { ourCrdFiles, ourXrdFile } from "../apis/generated-files.ts";
import { anchorProtection, identityObjects, providerIdentity } from "../controller/register.ts";
import { functionName } from "../functions/render.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const here = (...p: string[]): string => join(root, "package", ...p);
const compositionFile = join(root, "compositions", "xstretchkafka.yaml");
const examplesDir = join(root, "examples");

/** The registry and repository the committed crossplane.yaml files name. */
export const defaultRegistry = "xpkg.stretchkafka.dev/stretch-kafka";

export const packages = {
  configuration: "configuration-stretch-kafka",
  function: "function-stretch-kafka",
  provider: "provider-stretch-kafka",
} as const;
export type PackageKind = keyof typeof packages;

/** The version every package and image of this checkout carries (package.json's). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
  return `v${pkg.version}`;
}

// The provider serves the remote.* kinds and the KafkaTopics, KafkaUsers and KafkaRebalances app teams write.
export const isProviderCrd = (f: string): boolean =>
  basename(f).startsWith("remote.") ||
  /^stretchkafka\.dev_kafka(topics|users|rebalances)\.yaml$/.test(basename(f));

/**
 * The name Crossplane gives a package it installs as a dependency: the
 * repository path (registry host and tag left out) made a DNS label, as its
 * xpkg.ToDNSLabel does (letters and digits kept, `.`, `/`, `:` and `-` become
 * `-`, at most 63 characters, no `-` at either end).
 */
export function installedName(packageRef: string): string {
  const withoutTag = packageRef.replace(/[:@][^/]*$/, "");
  const parts = withoutTag.split("/");
  // A first part with a dot or a port, or localhost, is the registry host.
  const host = parts[0] ?? "";
  const repository = (/[.:]/.test(host) || host === "localhost" ? parts.slice(1) : parts).join("/");
  let out = "";
  for (let i = 0; i < repository.length; i++) {
    const c = repository[i] ?? "";
    if (/[a-z0-9]/.test(c)) out += c;
    if (/[./:-]/.test(c) && i !== 0 && i !== 62 && i !== repository.length - 1) out += "-";
    if (i === 62) break;
  }
  return out.replace(/^-+|-+$/g, "");
}

/** The Composition as packaged: its function named as Crossplane installs the Function from `registry`. */
function packagedComposition(registry: string): string {
  const name = installedName(`${registry}/${packages.function}`);
  const text = readFileSync(compositionFile, "utf8");
  const ref = `name: ${functionName}\n`;
  if (!text.includes(ref)) throw new Error(`${compositionFile} names no function ${functionName}`);
  return text.replace(ref, `name: ${name}\n`);
}

/** Writes each package's root under `out`/package and returns their paths. */
export function assemblePackages(
  out: string,
  registry = defaultRegistry,
): Record<PackageKind, string> {
  const dirs = {} as Record<PackageKind, string>;
  for (const kind of Object.keys(packages) as PackageKind[]) {
    const dir = join(out, "package", packages[kind]);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "examples"), { recursive: true });
    const meta = readFileSync(here(kind, "crossplane.yaml"), "utf8");
    writeFileSync(
      join(dir, "crossplane.yaml"),
      meta.replaceAll(`${defaultRegistry}/`, `${registry}/`),
    );
    dirs[kind] = dir;
  }
  const { configuration, function: fn, provider } = dirs;

  cpSync(ourXrdFile(), join(configuration, "xrd.yaml"));
  const composition = packagedComposition(registry);
  writeFileSync(join(configuration, "composition.yaml"), composition);
  for (const f of readdirSync(examplesDir).filter((f) => /^claim-.*\.yaml$/.test(f)))
    cpSync(join(examplesDir, f), join(configuration, "examples", f));

  // The function's example is how a Composition calls it; the CRD of its
  // input lets tools such as crossplane beta validate check that call.
  writeFileSync(join(fn, "examples", "composition.yaml"), composition);
  cpSync(here("function", "input.yaml"), join(fn, "input.yaml"));

  mkdirSync(join(provider, "crds"));
  for (const f of ourCrdFiles().filter(isProviderCrd))
    cpSync(f, join(provider, "crds", basename(f)));
  cpSync(
    join(examplesDir, "providerconfigs.yaml"),
    join(provider, "examples", "providerconfigs.yaml"),
  );
  // The kinds app teams write, which the provider serves.
  for (const f of readdirSync(examplesDir).filter((f) => /^kafka(topic|user)\.yaml$/.test(f)))
    cpSync(join(examplesDir, f), join(provider, "examples", f));
  for (const f of readdirSync(here("provider", "examples")))
    cpSync(here("provider", "examples", f), join(provider, "examples", f));
  return dirs;
}

function concat(files: string[]): string {
  return files.map((f) => readFileSync(f, "utf8").trimEnd() + "\n").join("---\n");
}

export const dashboardsDir = join(root, "dashboards");

/**
 * The Grafana dashboards as ConfigMaps that Grafana's dashboard sidecar loads
 * (label grafana_dashboard: "1", as kube-prometheus-stack configures it).
 */
export function dashboardConfigMaps(namespace: string): Record<string, unknown>[] {
  return readdirSync(dashboardsDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: `${basename(f, ".json")}-dashboard`,
        namespace,
        labels: { grafana_dashboard: "1", "app.kubernetes.io/part-of": "stretch-kafka" },
      },
      data: { [f]: readFileSync(join(dashboardsDir, f), "utf8") },
    }));
}

/**
 * Writes the standalone install under `out`/install: crds.yaml, then
 * controller.yaml, and monitoring.yaml (the controller's ServiceMonitor and
 * alerts, and the dashboards) for clusters with the Prometheus Operator.
 */
export function assembleStandalone(
  out: string,
  /** Crossplane's Composition CRD: without Crossplane nothing else defines the kind the engine reads. */
  compositionCrd: string,
): { crds: string; controller: string; monitoring: string } {
  const dir = join(out, "install");
  mkdirSync(dir, { recursive: true });
  const crds = join(dir, "crds.yaml");
  writeFileSync(crds, concat([compositionCrd, ...ourCrdFiles()]));
  const controller = join(dir, "controller.yaml");
  writeFileSync(
    controller,
    concat([
      here("standalone", "controller.yaml"),
      here("standalone", "rbac.yaml"),
      compositionFile,
    ]),
  );
  const monitoring = join(dir, "monitoring.yaml");
  writeFileSync(
    monitoring,
    [
      readFileSync(here("standalone", "monitoring.yaml"), "utf8").trimEnd() + "\n",
      ...dashboardConfigMaps("stretch-kafka-system").map((o) => manifestYaml(o)),
    ].join("---\n"),
  );
  return { crds, controller, monitoring };
}

export const remoteRbacFile = here("standalone", "remote-rbac.yaml");

/** What register-cluster creates in a remote cluster (namespace `kafka`), as a file. */
export function remoteRbacYaml(): string {
  const namespace = "kafka";
  const header = [
    "# Generated by `npm run package` from controller/register.ts. DO NOT EDIT.",
    "# The provider's identity in a remote cluster, exactly what",
    "# `stretch-kafka register-cluster NAME --target-namespace kafka` creates there:",
    "# a ServiceAccount, a Role with the least the provider needs in that namespace,",
    "# its RoleBinding, a ClusterRole that only reads Nodes (a node drain waits",
    "# for Kafka: docs/operations.md) and its binding, a token Secret, and the",
    "# admission policy that refuses",
    "# deleting an anchor ConfigMap to anyone but the provider (docs/operations.md).",
    "# Apply it yourself instead of giving",
    "# register-cluster an admin kubeconfig, then put the token in the central",
    "# credentials Secret (docs/install.md: Register a remote cluster).",
  ].join("\n");
  const docs = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
    ...Object.values(identityObjects(providerIdentity(namespace))),
    ...anchorProtection(),
  ];
  return `${header}\n${docs.map((d) => manifestYaml(d)).join("---\n")}`;
}
