#!/usr/bin/env node
/** The `stretch-kafka` command. */
import { Command } from "commander";
import { defaultClaimFile, sandbox } from "./sandbox.ts";

const program = new Command("stretch-kafka")
  .description("Apache Kafka (KRaft) stretched across Kubernetes clusters, the Crossplane way")
  .showHelpAfterError();

program
  .command("sandbox")
  .description("run a local multi-cluster sandbox (real API servers) with a sample claim")
  .option("--claim <file>", "claim to apply", defaultClaimFile)
  .option("--exit-when-ready", "exit 0 once the sandbox is up instead of running until Ctrl-C")
  .action(async (o: { claim: string; exitWhenReady?: boolean }) => {
    await sandbox({
      claimFile: o.claim,
      exitWhenReady: o.exitWhenReady ?? false,
      log: (m) => {
        console.log(m);
      },
    });
  });

try {
  await program.parseAsync();
} catch (err) {
  console.error(`stretch-kafka: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
