/**
 * Builds the Go harness (devbed/kubebed: kube-apiserver with embedded etcd and
 * kube-controller-manager from the upstream Go modules) once per source version
 * and caches the binary. A cold build prints its progress.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheDir } from "./cache.ts";
import { run } from "./run.ts";

const kubebedSrc = fileURLToPath(new URL("./kubebed/", import.meta.url));
const crankSrc = fileURLToPath(new URL("./crank/", import.meta.url));
const coreSrc = fileURLToPath(new URL("./xpcore/", import.meta.url));

export interface BuildReport {
  path: string;
  built: boolean;
  seconds: number;
}

/** Hash of the module's go.mod, go.sum and top-level Go files, the built package's own Go files, flags and Go version. */
async function sourceKey(dir: string, pkg: string, flags: string[]): Promise<string> {
  const h = createHash("sha256");
  h.update(JSON.stringify(flags));
  const dirs = pkg.startsWith("./") ? [dir, join(dir, pkg)] : [dir];
  for (const d of dirs) {
    for (const f of readdirSync(d).sort()) {
      if (f === "go.mod" || f === "go.sum" || f.endsWith(".go")) {
        h.update(f).update(readFileSync(join(d, f)));
      }
    }
  }
  h.update((await run("go", ["version"])).stdout);
  return h.digest("hex").slice(0, 16);
}

/**
 * The version a module build stamps into the control plane, as Kubernetes'
 * release build does: without it the API servers report v0.0.0-master.
 */
function kubernetesVersionFlags(): string[] {
  const gomod = readFileSync(join(kubebedSrc, "go.mod"), "utf8");
  const version = /k8s\.io\/kubernetes (v\d+\.\d+\.\d+)/.exec(gomod)?.[1];
  if (!version) throw new Error("devbed/kubebed/go.mod does not require k8s.io/kubernetes vX.Y.Z");
  const [major = "", minor = ""] = version.slice(1).split(".");
  const pkg = "k8s.io/component-base/version";
  return [
    "-ldflags",
    [
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    ].join(" "),
  ];
}

/** Path of the kubebed binary, building it first when the cache has none for this source. */
export async function kubebedBinary(log: (msg: string) => void = () => {}): Promise<BuildReport> {
  return goBinary("kubebed", kubebedSrc, ".", log, kubernetesVersionFlags());
}

/** Path of the real crossplane CLI (crank), building it first when needed. */
export async function crankBinary(log: (msg: string) => void = () => {}): Promise<BuildReport> {
  return goBinary("crank", crankSrc, "github.com/crossplane/crossplane/v2/cmd/crank", log);
}

/** The Crossplane release a module of devbed pins, read from its go.mod. */
function pinnedCrossplane(dir: string): string {
  const gomod = readFileSync(join(dir, "go.mod"), "utf8");
  const version = /github\.com\/crossplane\/crossplane\/v2 (v\d+\.\d+\.\d+)/.exec(gomod)?.[1];
  if (!version) throw new Error(`${dir}go.mod does not require crossplane/v2 vX.Y.Z`);
  return version;
}

/**
 * The Crossplane core release the tests run (devbed/xpcore/go.mod): the one
 * pin for the core binary, its CRDs and the image name validation uses.
 */
export function crossplaneVersion(): string {
  return pinnedCrossplane(coreSrc);
}

/** The release of the crossplane CLI (devbed/crank/go.mod), older than core's: see ADR 0017. */
export function crossplaneCliVersion(): string {
  return pinnedCrossplane(crankSrc);
}

/**
 * Path of Crossplane core (`crossplane core init|start`), building it first when
 * needed. Stamped with its release as Crossplane's own build does: packages
 * that require `crossplane.version >=v2.0.0` refuse an unstamped build.
 */
export async function crossplaneCoreBinary(
  log: (msg: string) => void = () => {},
): Promise<BuildReport> {
  return goBinary(
    "crossplane",
    coreSrc,
    "github.com/crossplane/crossplane/v2/cmd/crossplane",
    log,
    [
      "-ldflags",
      // Since v2.3 the version lives in crossplane-runtime (Crossplane's nix/build.nix).
      `-X github.com/crossplane/crossplane-runtime/v2/pkg/version.version=${crossplaneVersion()}`,
    ],
  );
}

/** Path of the loopback OCI registry (devbed/crank/registry), building it first when needed. */
export async function registryBinary(log: (msg: string) => void = () => {}): Promise<BuildReport> {
  return goBinary("registry", crankSrc, "./registry", log);
}

/**
 * Path of fncall (devbed/crank/fncall), which calls a function over gRPC as
 * Crossplane's function runner does, building it first when needed.
 */
export async function fncallBinary(log: (msg: string) => void = () => {}): Promise<BuildReport> {
  return goBinary("fncall", crankSrc, "./fncall", log);
}

/** Builds `pkg` of the Go module in `dir` into the cache, keyed by the module's sources. */
export async function goBinary(
  name: string,
  dir: string,
  pkg: string,
  log: (msg: string) => void,
  flags: string[] = [],
): Promise<BuildReport> {
  const started = Date.now();
  const path = join(cacheDir("bin"), `${name}-${await sourceKey(dir, pkg, flags)}`);
  if (existsSync(path)) return { path, built: false, seconds: 0 };

  log(`${name}: building from Go modules (cold builds take several minutes on 2 cores)`);
  const env = { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod" };
  // The packages the build may compile (fewer when Go's own cache has some): the total to report against.
  const { stdout: deps } = await run("go", ["list", "-deps", pkg], {
    cwd: dir,
    env,
  });
  const total = deps.split("\n").filter(Boolean).length;
  const resolved = Date.now();
  let compiled = 0;
  const ticker = setInterval(() => {
    const spent = (Date.now() - resolved) / 1000;
    const left = compiled > 0 ? Math.round((spent / compiled) * (total - compiled)) : undefined;
    log(
      `${name}: ${compiled} of at most ${total} packages compiled, ${Math.round((Date.now() - started) / 1000)}s` +
        (left !== undefined ? `, at most ~${left}s to go` : ""),
    );
  }, 20_000);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await run("go", ["build", "-v", "-trimpath", ...flags, "-o", tmp, pkg], {
      cwd: dir,
      env,
      onLine: (line) => {
        if (line && !line.startsWith("go: ")) compiled++;
      },
    });
  } finally {
    clearInterval(ticker);
  }
  renameSync(tmp, path);
  const seconds = (Date.now() - started) / 1000;
  log(`${name}: built in ${seconds.toFixed(0)}s (${compiled} packages)`);
  return { path, built: true, seconds };
}
