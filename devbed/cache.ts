/** Where the test bed keeps what it builds or downloads, so a second run is fast. */
import { homedir } from "node:os";
import { join } from "node:path";
import { mkdirSync } from "node:fs";

/** `$STRETCH_KAFKA_CACHE`, else `~/.cache/stretch-kafka`: survives across runs on one machine. */
export function cacheDir(...parts: string[]): string {
  const root = process.env["STRETCH_KAFKA_CACHE"] ?? join(homedir(), ".cache", "stretch-kafka");
  const dir = join(root, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}
