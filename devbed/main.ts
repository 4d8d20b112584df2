/**
 * The development bed's entry point (`npm run sandbox`): what runs the
 * project on this machine without real clusters. Nothing in it ships:
 * controller/, functions/ and apis/ may not import devbed/ (eslint), and
 * neither `npm run build` nor the images contain it.
 *
 *   tsx devbed/main.ts sandbox [--claim FILE] [--exit-when-ready]
 */
import { Command } from "commander";
import { describeError } from "../controller/kube/errors.ts";
import { defaultClaimFile, sandbox } from "./sandbox.ts";

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} must be a positive number, not ${value}`);
  return n;
}

const program = new Command("devbed")
  .description("stretch-kafka's development bed: real API servers on this machine")
  .showHelpAfterError();

program
  .command("sandbox")
  .description("run a local multi-cluster sandbox (real API servers) with a sample claim")
  .option("--claim <file>", "claim to apply", defaultClaimFile)
  .option("--exit-when-ready", "exit 0 once the claim is Ready instead of running until Ctrl-C")
  .option("--ready-timeout-seconds <s>", "how long the claim may take to become Ready", "300")
  .action(async (o: { claim: string; exitWhenReady?: boolean; readyTimeoutSeconds: string }) => {
    await sandbox({
      claimFile: o.claim,
      exitWhenReady: o.exitWhenReady ?? false,
      readyTimeoutSeconds: positive("ready-timeout-seconds", o.readyTimeoutSeconds),
      log: (m) => {
        console.log(m);
      },
    });
  });

try {
  await program.parseAsync();
} catch (err) {
  console.error(`devbed: ${describeError(err)}`);
  process.exit(1);
}
