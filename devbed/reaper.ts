/**
 * The last resort for the development bed's child processes (Kafka JVMs, the
 * latency proxy): SIGKILLed when this process exits, however it exits short of
 * SIGKILL (the test bed's SIGINT and SIGTERM hooks end in process.exit).
 */
import type { ChildProcess } from "node:child_process";

const children = new Set<ChildProcess>();
let hooked = false;

export function reapOnExit(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    });
  }
  children.add(child);
  child.once("exit", () => children.delete(child));
}
