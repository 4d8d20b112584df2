/**
 * `npm run bench:sandbox`: how long `npm run sandbox -- --exit-when-ready`
 * takes until Kafka itself reports every controller voting and every broker
 * registered, cold and warm, in one run:
 *
 * - cold: an empty project cache and an empty Go build cache, so the control
 *   plane, the latency proxy and the Kafka jars' directory are all made again
 *   (Go modules and Maven artifacts already downloaded on this machine are
 *   reused from their own caches: a machine that never fetched them pays
 *   their download on top);
 * - warm: the same again with those caches filled.
 *
 * Prints both and writes bench-results/sandbox.json. COLD=0 measures warm only.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const log = (m: string): void => {
  console.log(`[bench:sandbox] ${m}`);
};

async function sandboxSeconds(env: NodeJS.ProcessEnv, label: string): Promise<number> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "devbed/main.ts",
      "sandbox",
      "--exit-when-ready",
      "--ready-timeout-seconds",
      "1800",
    ],
    { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] },
  );
  child.stdout.on("data", (c: Buffer) => {
    for (const line of c.toString().split("\n")) if (line.trim()) log(`${label}: ${line}`);
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`the ${label} sandbox exited with ${String(code)}`);
  return (Date.now() - started) / 1000;
}

const result: { coldSeconds?: number; warmSeconds: number } = { warmSeconds: 0 };
if (process.env["COLD"] !== "0") {
  const dir = mkdtempSync(join(tmpdir(), "stretch-kafka-cold-"));
  try {
    const env = { STRETCH_KAFKA_CACHE: join(dir, "cache"), GOCACHE: join(dir, "go-build") };
    result.coldSeconds = await sandboxSeconds(env, "cold");
    log(`cold: ${result.coldSeconds.toFixed(0)}s to Kafka formed`);
    result.warmSeconds = await sandboxSeconds(env, "warm");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  result.warmSeconds = await sandboxSeconds({}, "warm");
}
log(`warm: ${result.warmSeconds.toFixed(0)}s to Kafka formed`);
mkdirSync("bench-results", { recursive: true });
writeFileSync("bench-results/sandbox.json", JSON.stringify(result, null, 2) + "\n");
log("written to bench-results/sandbox.json");
