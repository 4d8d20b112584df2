/** The controller run as its own process by the benchmarks, and what they read of it. */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { runtime } from "../package/build.ts";
import { sumMetric } from "./watch-events.ts";

/** Requests the controller made, reads and writes (watches excluded), from its /metrics. */
export function requestCounts(
  text: string,
  match: string[] = [],
): { reads: number; writes: number } {
  const name = "stretchkafka_kube_requests_total";
  const reads = sumMetric(text, name, ['verb="GET"', ...match]);
  const watches = sumMetric(text, name, ['verb="WATCH"', ...match]);
  return { reads, writes: sumMetric(text, name, match) - reads - watches };
}

/** Requests the controller made by cluster (central or remote) and verb, watches left out, from its /metrics. */
export function requestsByVerb(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith("stretchkafka_kube_requests_total{") || line.includes('verb="WATCH"'))
      continue;
    const cluster = /cluster="([^"]*)"/.exec(line)?.[1] === "central" ? "central" : "remote";
    const key = `${cluster} ${/verb="([^"]*)"/.exec(line)?.[1] ?? "?"}`;
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return out;
}

/** A process's resident memory (MiB) and CPU seconds (user + system), from /proc. */
export function usage(pid: number): { rssMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  // Fields 14 and 15 of /proc/PID/stat, after the command in parentheses; in clock ticks (100/s on Linux).
  const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: rssKiB / 1024, cpuSeconds: ticks / 100 };
}

/**
 * Starts the built CLI (`entry`) as the image does (its Node.js flags and
 * environment), output to `logFile`; `metrics()` reads its /metrics on `port`.
 */
export function startCli(
  entry: string,
  args: string[],
  port: number,
  logFile: string,
): { process: ChildProcess; pid: number; metrics: () => Promise<string> } {
  const child = spawn(process.execPath, [...runtime.nodeFlags, entry, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env["PATH"] ?? "", ...runtime.env },
  });
  const out = createWriteStream(logFile);
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  return {
    process: child,
    pid: child.pid ?? 0,
    metrics: async () =>
      (
        await fetch(`http://127.0.0.1:${String(port)}/metrics`, {
          signal: AbortSignal.timeout(30_000),
        })
      ).text(),
  };
}
