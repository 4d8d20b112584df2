/**
 * The function against the real tools: the crossplane CLI (built from Go
 * modules) calls it over gRPC and must print exactly what our own render
 * prints; `crossplane beta validate` must accept the result against our CRDs;
 * and every remote object must pass the real API server's validation with
 * Strimzi's and MCS's real CRDs installed (pods inside podsets included).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import { pino } from "pino";
import { compose } from "../../functions/stretch-kafka/compose.ts";
import {
  asComposite,
  render,
  shippedInput,
  toYamlStream,
  type KubeObject,
} from "../../functions/render.ts";
import { serve, type Served } from "../../functions/server.ts";
import { DynamicClient } from "../../controller/kube/dynamic.ts";
import { describeError } from "../../controller/kube/errors.ts";
import { crankBinary } from "../../devbed/build.ts";
import { startTestBed, type TestBed } from "../../devbed/clusters.ts";
import { installCrds } from "../../devbed/install.ts";
import { run } from "../../devbed/run.ts";
import { allAccepted, refusals, validator } from "../../devbed/validate.ts";
import {
  asNamespacedConfigs,
  asNamespacedXr,
  exampleClaims,
  exampleProviderConfigs,
  loadExample,
} from "../examples.ts";
import { functionName } from "../../functions/render.ts";
import { groups } from "../../apis/index.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const composition = join(root, "compositions", "xstretchkafka.yaml");
const namespacedComposition = join(root, "compositions", "stretchkafka.yaml");

/** The step's input in compositions/stretchkafka.yaml. */
function namespacedInput(): Record<string, unknown> {
  const doc = parseAllDocuments(readFileSync(namespacedComposition, "utf8"))[0]?.toJS() as {
    spec: { pipeline: { input: Record<string, unknown> }[] };
  };
  const input = doc.spec.pipeline[0]?.input;
  assert.ok(input);
  return input;
}
const crdDir = join(root, "apis", "generated", "crds");

let crank: string;
let server: Served;
let port: number;
let work: string;

/**
 * Every scalar as its text: Go's YAML (1.1) and JavaScript's (1.2) disagree on
 * what is a number (`34e13578` is a string to one, a float to the other), and
 * what matters is that both print the same values.
 */
function parseStream(text: string): unknown[] {
  return parseAllDocuments(text, { schema: "failsafe" })
    .map((d) => d.toJS() as unknown)
    .filter((d) => d !== null);
}

before(async () => {
  crank = (await crankBinary()).path;
  server = await serve(
    compose,
    { address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "" },
    pino({ level: "silent" }),
  );
  port = server.port;
  work = mkdtempSync(join(tmpdir(), "stretch-kafka-fn-"));
  writeFileSync(
    join(work, "functions.yaml"),
    stringify({
      apiVersion: "pkg.crossplane.io/v1",
      kind: "Function",
      metadata: {
        name: functionName,
        annotations: {
          "render.crossplane.io/runtime": "Development",
          "render.crossplane.io/runtime-development-target": `127.0.0.1:${port}`,
        },
      },
      spec: { package: "function-stretch-kafka" },
    }),
  );
});

after(() => {
  server.forceShutdown();
  rmSync(work, { recursive: true, force: true });
});

describe("crossplane render (the real CLI) calls the function over gRPC", () => {
  for (const file of exampleClaims) {
    test(
      `${file}: crossplane render prints what stretch-kafka render prints`,
      { timeout: 60_000 },
      async () => {
        const { claim, observed, required } = loadExample(file);
        const xrFile = join(work, `xr-${file}`);
        writeFileSync(xrFile, stringify(asComposite(claim)));
        const args = [
          "render",
          xrFile,
          composition,
          join(work, "functions.yaml"),
          "--required-resources",
          exampleProviderConfigs,
        ];
        if (observed.length > 0) {
          const observedFile = join(work, `observed-${file}`);
          writeFileSync(observedFile, toYamlStream(observed));
          args.push("--observed-resources", observedFile);
        }
        const { stdout } = await run(crank, args);
        const theirs = parseStream(stdout);
        const ours = parseStream(
          toYamlStream(render(claim, observed, required, undefined, shippedInput)),
        );
        assert.equal(theirs.length, ours.length, "number of rendered objects");
        assert.deepEqual(theirs, ours);
      },
    );
  }
});

describe("crossplane render of a namespaced StretchKafka (the Crossplane v2 shape)", () => {
  test(
    "crossplane render prints what stretch-kafka render prints: namespaced sets and the connection Secret in the XR's namespace",
    { timeout: 60_000 },
    async () => {
      const { claim, required } = loadExample(exampleClaims[0] ?? "");
      const xr = asNamespacedXr(claim);
      const xrFile = join(work, "v2-xr.yaml");
      writeFileSync(xrFile, stringify(xr));
      const requiredFile = join(work, "v2-required.yaml");
      writeFileSync(requiredFile, toYamlStream(asNamespacedConfigs(required)));
      const { stdout } = await run(crank, [
        "render",
        xrFile,
        namespacedComposition,
        join(work, "functions.yaml"),
        "--required-resources",
        requiredFile,
      ]);
      const theirs = parseStream(stdout) as KubeObject[];
      const ours = parseStream(
        toYamlStream(render(xr, [], asNamespacedConfigs(required), undefined, namespacedInput())),
      ) as KubeObject[];
      assert.deepEqual(theirs, ours);
      const kinds = theirs
        .slice(1)
        .map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ""}`);
      assert.deepEqual([...new Set(kinds)].sort(), [
        `${groups.namespacedRemote} RemoteObjectSet team-a`,
        "v1 Secret team-a",
      ]);
    },
  );
});

describe("crossplane beta validate", () => {
  let extensions: string;
  let validateFile: (resources: string) => Promise<{ stdout: string }>;

  before(async () => {
    // Our XRD and provider CRDs (Crossplane derives the XR CRD from the XRD itself).
    extensions = join(work, "extensions");
    mkdirSync(extensions);
    for (const f of readdirSync(crdDir)) {
      if (f.endsWith(".xrd.yaml") || f.startsWith("remote."))
        cpSync(join(crdDir, f), join(extensions, f));
    }
    const validate = await validator(work);
    validateFile = (resources) => validate(extensions, resources);
  });

  test(
    "accepts every rendered example against our XRD and CRDs",
    { timeout: 120_000 },
    async () => {
      const all: KubeObject[] = [];
      for (const file of exampleClaims) {
        const { claim, observed, required } = loadExample(file);
        // Either shape: the shipped Composition's sets, and a managed resource per object.
        for (const input of [undefined, shippedInput]) {
          const [xr, ...composed] = render(claim, observed, required, undefined, input);
          // The full composite (render prints only its status) so its spec is checked too.
          all.push({ ...asComposite(claim), status: xr?.["status"] }, ...composed);
        }
        // And as a namespaced v2 StretchKafka, against the v2 XRD and the `.m.` CRDs.
        const v2 = asNamespacedXr(claim);
        const [xr, ...composed] = render(
          v2,
          [],
          asNamespacedConfigs(required),
          undefined,
          namespacedInput(),
        );
        // (Its connection Secret is a core kind validate has no schema for.)
        all.push({ ...v2, status: xr?.["status"] }, ...composed.filter((o) => o.kind !== "Secret"));
      }
      const resources = join(work, "rendered.yaml");
      writeFileSync(resources, toYamlStream(all));
      const { stdout } = await validateFile(resources).catch((err: unknown) =>
        assert.fail(`crossplane beta validate refused:\n${refusals(err)}`),
      );
      assert.match(stdout, allAccepted(all.length));
    },
  );

  test("refuses a managed resource that breaks its schema", { timeout: 60_000 }, async () => {
    const { claim, required } = loadExample(exampleClaims[0] ?? "");
    const secret = render(claim, [], required).find((o) => o.kind === "RemoteSecret");
    assert.ok(secret);
    const spec = secret["spec"] as { forProvider: { manifest: Record<string, unknown> } };
    spec.forProvider.manifest["kind"] = "ConfigMap";
    const resources = join(work, "broken.yaml");
    writeFileSync(resources, toYamlStream([secret]));
    await assert.rejects(validateFile(resources), /schema validation error/);
  });
});

describe("remote objects pass the real API server with Strimzi's and MCS's CRDs", () => {
  let bed: TestBed;
  const clients = new Map<string, DynamicClient>();

  before(async () => {
    bed = await startTestBed({ names: ["strimzi-1x", "strimzi-049"] });
    await installCrds(bed.cluster("strimzi-1x").kubeConfig(), { crossplane: false, ours: false });
    await installCrds(bed.cluster("strimzi-049").kubeConfig(), {
      crossplane: false,
      ours: false,
      strimziLegacy: true,
    });
    for (const c of bed.clusters) {
      const client = new DynamicClient(c.kubeConfig());
      clients.set(c.name, client);
      await client.apply(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "kafka" } },
        { fieldManager: "test" },
      );
    }
  });

  after(async () => {
    for (const c of clients.values()) await c.close();
    await bed.close();
  });

  for (const file of exampleClaims) {
    test(
      `${file}: every remote object and pod is valid (server-side dry run, strict fields)`,
      { timeout: 120_000 },
      async () => {
        const { claim, observed, required } = loadExample(file);
        const legacy =
          (claim["spec"] as { strimzi?: { apiVersion?: string } }).strimzi?.apiVersion ===
          "core.strimzi.io/v1beta2";
        const client = clients.get(legacy ? "strimzi-049" : "strimzi-1x");
        assert.ok(client);
        const failures: string[] = [];
        const check = async (obj: KubeObject): Promise<void> => {
          try {
            await client.apply(obj, {
              fieldManager: "stretch-kafka-test",
              dryRun: true,
              fieldValidation: "Strict",
            });
          } catch (err) {
            failures.push(`${obj.kind} ${obj.metadata.name ?? ""}: ${describeError(err)}`);
          }
        };
        let checked = 0;
        for (const mr of render(claim, observed, required).slice(1)) {
          const manifest = (mr["spec"] as { forProvider: { manifest: KubeObject } }).forProvider
            .manifest;
          await check(manifest);
          checked++;
          if (manifest.kind === "StrimziPodSet") {
            for (const pod of (manifest["spec"] as { pods: KubeObject[] }).pods) {
              await check(pod);
              checked++;
            }
          }
        }
        assert.deepEqual(failures, []);
        assert.ok(checked > 10, `only ${checked} objects checked`);
      },
    );
  }
});
