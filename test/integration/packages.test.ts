/**
 * The three Crossplane packages, built by `npm run package`'s code with the
 * real crossplane CLI and read back: `xpkg extract` (the real CLI again) lists
 * what each package holds, the OCI image's layers show the examples went in,
 * and `beta validate` accepts every packaged example against the schemas the
 * packages carry, and refuses one that breaks them.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { parse, parseAllDocuments, stringify } from "yaml";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import {
  assemblePackages,
  isProviderCrd,
  defaultRegistry,
  packages,
  version,
  type PackageKind,
} from "../../package/contents.ts";
import { buildPackages } from "../../devbed/packages.ts";
import { crankBinary } from "../../devbed/build.ts";
import { readYamlDocuments } from "../../devbed/external-crds.ts";
import { ourCrdFiles, ourXrdFile } from "../../devbed/install.ts";
import { run } from "../../devbed/run.ts";
import { buildController, imageEntrypoint } from "../../package/build.ts";
import { allAccepted, refusals, validator, type Validate } from "../../devbed/validate.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const kinds = Object.keys(packages) as PackageKind[];

let work: string;
let crank: string;
let built: Record<PackageKind, string>;
/** Each package's objects as `crossplane xpkg extract` gives them. */
const contents = new Map<PackageKind, KubeObject[]>();

interface Meta extends KubeObject {
  spec: {
    crossplane?: { version: string };
    capabilities?: string[];
    dependsOn?: { apiVersion: string; kind: string; package: string; version: string }[];
  };
}

function docs(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

/** Whether a semantic version satisfies a constraint such as ">=v0.1.0, <v0.2.0". */
function satisfies(v: string, constraint: string): boolean {
  const num = (s: string): number[] => s.replace(/^v/, "").split(".").map(Number);
  const cmp = (a: number[], b: number[]): number =>
    a.reduce((acc, x, i) => acc || x - (b[i] ?? 0), 0);
  return constraint.split(",").every((clause) => {
    const m = /^\s*(>=|<=|>|<|=)?\s*(v?\d+\.\d+\.\d+)\s*$/.exec(clause);
    if (!m) throw new Error(`cannot read the constraint ${clause}`);
    const c = cmp(num(v), num(m[2] ?? ""));
    return { ">=": c >= 0, "<=": c <= 0, ">": c > 0, "<": c < 0, "=": c === 0 }[m[1] ?? "="];
  });
}

/** The files of an .xpkg's layers: an OCI image tarball whose layers are gzipped tarballs. */
async function layerFiles(xpkg: string): Promise<Map<string, string>> {
  const dir = mkdtempSync(join(work, "layers-"));
  await run("tar", ["-xf", xpkg, "-C", dir]);
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as {
    Layers: string[];
  }[];
  const files = new Map<string, string>();
  for (const layer of manifest[0]?.Layers ?? []) {
    const out = mkdtempSync(join(dir, "layer-"));
    await run("tar", ["-xzf", join(dir, layer), "-C", out]);
    for (const f of ["package.yaml", ".up/examples.yaml"]) {
      try {
        files.set(f, readFileSync(join(out, f), "utf8"));
      } catch {
        // Not in this layer.
      }
    }
  }
  return files;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "stretch-kafka-packages-"));
  crank = (await crankBinary()).path;
  built = await buildPackages(work);
  for (const kind of kinds) {
    const gz = join(work, `${kind}.gz`);
    await run(crank, ["xpkg", "extract", "--from-xpkg", built[kind], "-o", gz]);
    contents.set(kind, docs(gunzipSync(readFileSync(gz)).toString("utf8")));
  }
});

after(() => {
  rmSync(work, { recursive: true, force: true });
});

const meta = (kind: PackageKind): Meta => {
  const m = contents.get(kind)?.find((o) => o.apiVersion.startsWith("meta.pkg.crossplane.io/"));
  assert.ok(m, `${kind} package has its crossplane.yaml`);
  return m as Meta;
};
const objects = (kind: PackageKind): KubeObject[] =>
  (contents.get(kind) ?? []).filter((o) => !o.apiVersion.startsWith("meta.pkg.crossplane.io/"));
const generated = (files: string[]): KubeObject[] =>
  files.flatMap((f) => readYamlDocuments(f) as KubeObject[]);
/** What a package object is, leaving out what encoding it adds (empty status, null timestamps). */
const essence = (o: KubeObject): unknown[] => [o.apiVersion, o.kind, o.metadata.name, o["spec"]];

test("xpkg build makes all three packages, named for this version", () => {
  for (const kind of kinds) {
    assert.equal(built[kind], join(work, "xpkg", `${packages[kind]}-${version()}.xpkg`));
    assert.equal(meta(kind).metadata.name, packages[kind]);
  }
});

test("the Configuration holds the XRD and the Composition, and depends on the Function and the Provider", () => {
  const composition = parse(
    readFileSync(join(root, "compositions", "xstretchkafka.yaml"), "utf8"),
  ) as KubeObject;
  assert.deepEqual(
    objects("configuration").sort(byKind).map(essence),
    [...generated([ourXrdFile()]), composition].sort(byKind).map(essence),
  );
  const m = meta("configuration");
  assert.equal(m.kind, "Configuration");
  const deps = m.spec.dependsOn ?? [];
  assert.deepEqual(
    deps.map((d) => [d.apiVersion, d.kind, d.package]),
    [
      ["pkg.crossplane.io/v1", "Function", `${defaultRegistry}/${packages.function}`],
      ["pkg.crossplane.io/v1", "Provider", `${defaultRegistry}/${packages.provider}`],
    ],
  );
  for (const d of deps)
    assert.ok(satisfies(version(), d.version), `${d.kind} ${d.version} admits ${version()}`);
  assert.ok(!satisfies("v9.0.0", deps[0]?.version ?? ""), "the constraints have an upper bound");
});

test("the Function has the composition capability and holds only its input's CRD", () => {
  const m = meta("function");
  assert.equal(m.kind, "Function");
  assert.deepEqual(m.spec.capabilities, ["composition"]);
  assert.deepEqual(
    objects("function").map(essence),
    generated([join(root, "package", "function", "input.yaml")]).map(essence),
  );
});

test("the Provider holds exactly the provider's generated CRDs", () => {
  assert.equal(meta("provider").kind, "Provider");
  const crds = generated(ourCrdFiles().filter(isProviderCrd));
  assert.ok(crds.some((c) => c.metadata.name === "kafkatopics.stretchkafka.dev"));
  assert.ok(crds.some((c) => c.metadata.name === "kafkausers.stretchkafka.dev"));
  assert.ok(crds.length > 10);
  assert.deepEqual(objects("provider").sort(byName).map(essence), crds.sort(byName).map(essence));
});

test("every package's image carries its examples", async () => {
  for (const kind of kinds) {
    const files = await layerFiles(built[kind]);
    assert.ok(files.has("package.yaml"), `${kind}: package.yaml layer`);
    const shipped = docs(files.get(".up/examples.yaml") ?? "");
    const dir = join(work, "package", packages[kind], "examples");
    const expected = readdirSync(dir).flatMap((f) => readYamlDocuments(join(dir, f)));
    assert.ok(expected.length > 0, `${kind} has examples`);
    assert.equal(shipped.length, expected.length, `${kind}: examples in the image`);
  }
  const claims = readdirSync(join(root, "examples")).filter((f) => f.startsWith("claim-"));
  assert.equal(
    readdirSync(join(work, "package", packages.configuration, "examples")).length,
    claims.length,
  );
});

test("--registry makes the Configuration depend on packages pushed elsewhere", () => {
  const dirs = assemblePackages(join(work, "elsewhere"), "registry.example.com/platform");
  const m = parse(readFileSync(join(dirs.configuration, "crossplane.yaml"), "utf8")) as Meta;
  assert.deepEqual(
    m.spec.dependsOn?.map((d) => d.package),
    [
      `registry.example.com/platform/${packages.function}`,
      `registry.example.com/platform/${packages.provider}`,
    ],
  );
});

test(
  "a runtime image given as a docker save tarball is embedded under the package layers",
  { timeout: 120_000 },
  async () => {
    // No container engine or base image here: the image is the application layer
    // alone (what `npm run build` makes), in docker save's format.
    const dir = mkdtempSync(join(work, "runtime-"));
    const app = join(dir, "app");
    await buildController(app);
    await run("tar", ["-cf", join(dir, "layer.tar"), "-C", dir, "app"]);
    const diffId = createHash("sha256")
      .update(readFileSync(join(dir, "layer.tar")))
      .digest("hex");
    const entrypoint = [...imageEntrypoint];
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Entrypoint: entrypoint, Cmd: ["provider"], User: "65532:65532" },
        rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
      }),
    );
    writeFileSync(
      join(dir, "manifest.json"),
      JSON.stringify([
        { Config: "config.json", RepoTags: ["provider-runtime:test"], Layers: ["layer.tar"] },
      ]),
    );
    const image = join(dir, "provider-runtime.tar");
    await run("tar", ["-cf", image, "-C", dir, "manifest.json", "config.json", "layer.tar"]);

    const out = join(work, "embedded");
    const { provider } = await buildPackages(out, { runtimeTarballs: { provider: image } });
    const unpacked = mkdtempSync(join(work, "embedded-"));
    await run("tar", ["-xf", provider, "-C", unpacked]);
    const [m] = JSON.parse(readFileSync(join(unpacked, "manifest.json"), "utf8")) as {
      Config: string;
      Layers: string[];
    }[];
    assert.ok(m);
    assert.equal(m.Layers.length, 3, "the runtime layer, then the package and examples layers");
    const config = JSON.parse(readFileSync(join(unpacked, m.Config), "utf8")) as {
      config: { Entrypoint: string[]; Cmd: string[] };
    };
    assert.deepEqual(config.config.Entrypoint, entrypoint, "the runtime's entrypoint is kept");
    const files = await layerFiles(provider);
    assert.ok(files.has("package.yaml"));
    const { stdout } = await run("tar", ["-tzf", join(unpacked, m.Layers[0] ?? "")]);
    assert.match(stdout, /app\/controller\/cli\/main\.js/);
  },
);

describe("crossplane beta validate, against the packaged schemas", () => {
  let validate: Validate;
  let schemas: string;

  before(async () => {
    validate = await validator(work);
    // The schemas exactly as the packages hold them (xpkg extract), without the package metadata.
    schemas = join(work, "schemas");
    mkdirSync(schemas);
    for (const kind of kinds)
      writeFileSync(
        join(schemas, `${kind}.yaml`),
        objects(kind)
          .map((o) => stringify(o))
          .join("---\n"),
      );
  });

  test("accepts every example the packages ship", { timeout: 120_000 }, async () => {
    const examples = kinds.flatMap((kind) => {
      const dir = join(work, "package", packages[kind], "examples");
      return readdirSync(dir).flatMap((f) => readYamlDocuments(join(dir, f)) as KubeObject[]);
    });
    const file = join(work, "examples.yaml");
    writeFileSync(file, examples.map((o) => stringify(o)).join("---\n"));
    const { stdout } = await validate(schemas, file).catch((err: unknown) =>
      assert.fail(`crossplane beta validate refused:\n${refusals(err)}`),
    );
    // crossplane beta validate checks each Composition step's input as a resource of its own.
    const inputs = examples
      .filter((o) => o.kind === "Composition")
      .flatMap((o) => (o["spec"] as { pipeline?: { input?: unknown }[] }).pipeline ?? [])
      .filter((step) => step.input !== undefined).length;
    assert.ok(inputs > 0, "the packaged Composition gives its step an input");
    assert.match(stdout, allAccepted(examples.length + inputs));
  });

  test("refuses an example that breaks the packaged schema", { timeout: 60_000 }, async () => {
    const dir = join(work, "package", packages.configuration, "examples");
    const [first] = readdirSync(dir);
    const claim = readYamlDocuments(join(dir, first ?? ""))[0] as KubeObject & {
      spec: { clusters: { nodePools: { replicas: number }[] }[] };
    };
    const pool = claim.spec.clusters[0]?.nodePools[0];
    assert.ok(pool);
    pool.replicas = -1;
    const file = join(work, "broken.yaml");
    writeFileSync(file, stringify(claim));
    await assert.rejects(validate(schemas, file), /replicas/);
  });
});

function byKind(a: KubeObject, b: KubeObject): number {
  return a.kind.localeCompare(b.kind);
}

function byName(a: KubeObject, b: KubeObject): number {
  return (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "");
}
