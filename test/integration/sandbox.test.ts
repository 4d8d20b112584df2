/**
 * The README's main command: `npm run sandbox` brings a sample claim to Ready
 * on real API servers with real Kafka behind it; `--exit-when-ready` exits 0
 * once Kafka itself, and the claim's live status, say every node has joined.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";

test(
  "npm run sandbox -- --exit-when-ready: the sample claim turns Ready and the sandbox exits 0",
  { timeout: 600_000 },
  async () => {
    const child = spawn(
      "npm",
      ["run", "--silent", "sandbox", "--", "--exit-when-ready", "--ready-timeout-seconds", "300"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, out);
    assert.match(out, /sandbox Ready in/);
    // The status tree: every cluster and pool ready.
    assert.match(out, /StretchKafka team-a\/orders\s+Synced=True\s+Ready=True/);
    for (const c of ["east", "west", "north"])
      assert.match(out, new RegExp(`${c}\\s+✓ reachable\\s+✓ synced\\s+✓ ready\\s+pods 3/3 ready`));
    assert.match(out, /Kafka \d+\.\d+\.\d+: 3 controllers \((static|dynamic) quorum\), 6 brokers/);
    assert.match(out, /Kafka: every controller votes, every broker is registered/);
    assert.match(out, /the claim's live status agrees/);
    assert.match(out, /Kafka says: leader \d+ \(epoch \d+\), voters \d+@\w+, \d+@\w+, \d+@\w+\n/);
    assert.match(out, /brokers registered 6\/6; partitions \d+, under-replicated 0/);
    assert.match(out, /npm run sandbox -- produce --topic demo/);
    assert.match(out, /npm run sandbox -- kubectl east drain east-node-1 --ignore-daemonsets/);
    assert.match(out, /tearing the sandbox down/);
  },
);
