/** The controller compiled as the image holds it (package/Dockerfile), for tests and benchmarks that run it as users do. */
import { copyFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./run.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * Compiles the CLI to JavaScript in `dir` (tsconfig.build.json), with
 * package.json and node_modules beside it; resolves with the entry point
 * the image's ENTRYPOINT runs.
 */
export async function compileController(dir: string): Promise<string> {
  await run(
    join(root, "node_modules", ".bin", "tsc"),
    ["-p", "tsconfig.build.json", "--outDir", dir],
    {
      cwd: root,
    },
  );
  copyFileSync(join(root, "package.json"), join(dir, "package.json"));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return join(dir, "controller", "cli", "main.js");
}
