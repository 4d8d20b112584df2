/** Runs a command, streaming nothing; resolves with its output or rejects with it. */
import { spawn, type SpawnOptions } from "node:child_process";

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** A command that exited non-zero, with everything it printed. */
export class RunError extends Error implements RunResult {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(message);
    this.name = "RunError";
  }
}

export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { onLine?: (line: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let partial = "";
    const feed = (chunk: Buffer, into: "out" | "err"): void => {
      const text = chunk.toString();
      if (into === "out") stdout += text;
      else stderr += text;
      if (opts.onLine) {
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) opts.onLine(l);
      }
    };
    child.stdout.on("data", (c: Buffer) => {
      feed(c, "out");
    });
    child.stderr.on("data", (c: Buffer) => {
      feed(c, "err");
    });
    child.on("error", (err) => {
      reject(new Error(`cannot run ${cmd}`, { cause: err }));
    });
    child.on("close", (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(
          new RunError(
            `${cmd} ${args.join(" ")} exited with ${code}:\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`,
            stdout,
            stderr,
            code,
          ),
        );
    });
  });
}
