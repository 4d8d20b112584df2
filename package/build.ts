/**
 * `npm run build`: the CLI as the images run it (package/Dockerfile), bundled
 * by esbuild from controller/cli/main.ts into an ES module and the chunks its
 * commands load, in dist/js.
 *
 * One bundle instead of tsc's file per module: Node.js keeps a module
 * record, its source and its bindings for every file it loads, and
 * @kubernetes/client-node alone is over a thousand files (its generated
 * API, of which the controller uses the configuration and errors). Bundled,
 * the provider starts in ~60 MiB less resident memory (ADR 0022). Nothing
 * is minified: stack traces keep the names of the sources.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, stop } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The entry point inside the build, where the images' ENTRYPOINT runs it. */
export const entryPoint = join("controller", "cli", "main.js");

/**
 * How the images start Node.js: package/Dockerfile's ENTRYPOINT flags and
 * ENV, kept equal to these by test/unit/static.test.ts; bench:provider runs
 * the provider with them.
 *
 * - `--max-semi-space-size=4`: V8 lets the young generation grow to three
 *   semi-spaces of 16 MiB (Node.js 24, 64-bit), which the controller's
 *   short-lived garbage (watch events, request bodies) fills and keeps
 *   resident; at 4 MiB the provider serving 1,000 managed resources holds
 *   ~55 MiB less for the same CPU time (bench:provider, ADR 0022).
 * - `MALLOC_ARENA_MAX=2`: glibc gives each thread (the libuv pool's, V8's
 *   workers) a malloc arena of its own that keeps what it freed; two
 *   arenas serve this process.
 */
export const runtime = {
  nodeFlags: ["--max-semi-space-size=4"],
  env: { MALLOC_ARENA_MAX: "2" },
} as const;

/** The images' ENTRYPOINT (the node binary of the distroless base, the built CLI under /app). */
export const imageEntrypoint = [
  "/nodejs/bin/node",
  ...runtime.nodeFlags,
  `/app/${entryPoint}`,
] as const;

/**
 * Packages left out of the bundle and shipped as they are beside it: they
 * read files of their own at run time (wasm-utils loads its native.wasm
 * relative to its module).
 */
const external = ["@platformatic/wasm-utils"];

/** A package and every package it depends on, by name, from the project's node_modules. */
function withDependencies(names: readonly string[]): Set<string> {
  const all = new Set<string>();
  const visit = (name: string): void => {
    if (all.has(name)) return;
    all.add(name);
    const pkg = JSON.parse(
      readFileSync(join(root, "node_modules", name, "package.json"), "utf8"),
    ) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep);
  };
  names.forEach(visit);
  return all;
}

/** What a build holds: the entry point's path and the sources it was made of. */
export interface Built {
  entry: string;
  inputs: string[];
}

/**
 * Bundles the CLI into `outDir` (emptied first): the entry point, a
 * package.json that marks it an ES module, and the external packages under
 * node_modules.
 */
export async function buildController(outDir: string): Promise<Built> {
  rmSync(outDir, { recursive: true, force: true });
  const entry = join(outDir, entryPoint);
  const result = await build({
    absWorkingDir: root,
    entryPoints: [join(root, "controller", "cli", "main.ts")],
    outdir: dirname(entry),
    // The commands' import()s become chunks beside the entry point: each
    // command loads its own (a provider neither the engine nor the function).
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    external,
    metafile: true,
    // Whitespace and comments out, names kept: the bundle's source stays in
    // memory as long as the process runs (8 MB with them, held as UTF-16
    // for a few typographic quotes in comments: 16 MiB; 4 MB without).
    // Stack traces still name every function; the source map beside it maps
    // them back to the sources with NODE_OPTIONS=--enable-source-maps.
    minifyWhitespace: true,
    sourcemap: "linked",
    sourcesContent: false,
    logLevel: "warning",
    // Bundled CommonJS dependencies call require() for Node.js' own modules.
    banner: {
      js: "import { createRequire as __stretchKafkaRequire } from 'node:module'; const require = __stretchKafkaRequire(import.meta.url);",
    },
  });
  // esbuild's service process would otherwise stay for the caller's life (a benchmark's, a test's).
  await stop();
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    name: string;
    version: string;
  };
  writeFileSync(
    join(outDir, "package.json"),
    JSON.stringify({ name: pkg.name, version: pkg.version, type: "module" }, null, 2) + "\n",
  );
  for (const name of withDependencies(external)) {
    const to = join(outDir, "node_modules", name);
    mkdirSync(dirname(to), { recursive: true });
    cpSync(join(root, "node_modules", name), to, { recursive: true });
  }
  return { entry, inputs: Object.keys(result.metafile.inputs) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = join(root, "dist", "js");
  const { entry } = await buildController(out);
  console.log(`built ${entry}`);
}
