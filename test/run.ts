/**
 * `npm test`: prepares what the tests need (the Go-built control plane, the
 * external CRDs), printing how long that took, then runs every test file with
 * Node's own test runner.
 *
 *   npm test                      unit and integration tests
 *   npm test -- --tier unit       pure tests only (no binaries, no clusters)
 *   npm test -- test/unit/x.test.ts   just these files
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  crankBinary,
  crossplaneCoreBinary,
  fncallBinary,
  kubebedBinary,
  registryBinary,
} from "../devbed/build.ts";
import { externalCrds } from "../devbed/external-crds.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const tiers = ["unit", "integration"] as const;
type Tier = (typeof tiers)[number];

function testFiles(dir: string): string[] {
  let out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(testFiles(p));
    else if (e.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

function parseArgs(argv: string[]): { tiers: Tier[]; files: string[] } {
  const files: string[] = [];
  let chosen: Tier[] = [...tiers];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--tier") {
      const t = argv[++i];
      if (!tiers.includes(t as Tier)) {
        throw new Error(`--tier must be one of ${tiers.join(", ")}, not ${String(t)}`);
      }
      chosen = [t as Tier];
    } else if (a.endsWith(".test.ts")) {
      files.push(join(root, a));
    } else {
      throw new Error(`unknown argument ${a} (expected --tier unit|integration or test files)`);
    }
  }
  return { tiers: chosen, files };
}

async function prepare(log: (m: string) => void): Promise<void> {
  const started = Date.now();
  await externalCrds(log);
  // One Go build at a time: each uses both cores.
  const builds = [
    await kubebedBinary(log),
    await crankBinary(log),
    // From the same module as crank: mostly its build cache.
    await crossplaneCoreBinary(log),
    await registryBinary(log),
    await fncallBinary(log),
  ];
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const built = builds.filter((b) => b.built);
  log(
    `test bed prepared in ${seconds}s` +
      (built.length > 0
        ? ` (cold builds: ${built.map((b) => `${b.path.split("/").pop() ?? ""} ${b.seconds.toFixed(0)}s`).join(", ")})`
        : " (binaries from cache)"),
  );
}

async function main(): Promise<number> {
  const { tiers: chosen, files: given } = parseArgs(process.argv.slice(2));
  const files = given.length > 0 ? given : chosen.flatMap((t) => testFiles(join(root, "test", t)));
  if (files.length === 0) throw new Error("no test files found");
  const needsBed = files.some((f) => f.includes(join("test", "integration")));
  const log = (m: string): void => {
    console.log(`[test bed] ${m}`);
  };
  console.log(`Node.js ${process.version} (${process.execPath})`);
  if (needsBed) await prepare(log);

  const args = [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    // A file whose fixture leaked a handle still ends: its exit hooks kill
    // every child (API servers, Kafka JVMs), and the next file runs.
    "--test-force-exit",
    // No test, suite or hook hangs the run: the longest suite (real Kafka)
    // takes under 8 minutes here, so 20 is a failure, not a slow machine.
    "--test-timeout=1200000",
    "--test-reporter=spec",
    ...files.map((f) => relative(root, f)),
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (code, signal) => {
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
