/**
 * The development bed's entry point (`npm run sandbox`): what runs the
 * project on this machine without real clusters. Nothing in it ships:
 * controller/, functions/ and apis/ may not import devbed/ (eslint), and
 * neither `npm run build` nor the images contain it.
 *
 *   tsx devbed/main.ts sandbox [run] [--claim FILE] [--exit-when-ready]
 *   tsx devbed/main.ts sandbox produce|consume --topic T [--in CLUSTER]
 *   tsx devbed/main.ts sandbox stop-cluster|start-cluster CLUSTER
 *   tsx devbed/main.ts sandbox kubectl CLUSTER <kubectl arguments>
 */
import { Command } from "commander";
import { describeError } from "../controller/kube/errors.ts";
import { defaultClaimFile, sandbox } from "./sandbox.ts";
import { clusterAction, consume, kubectl, produce } from "./sandbox-control.ts";

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name} must be a positive number, not ${value}`);
  return n;
}

const program = new Command("devbed")
  .description("stretch-kafka's development bed: real API servers on this machine")
  .showHelpAfterError();

const box = program
  .command("sandbox")
  .description("a local multi-cluster sandbox (real API servers, real Kafka) with a sample claim");

box
  .command("run", { isDefault: true })
  .description("start the sandbox and run until Ctrl-C")
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

box
  .command("produce")
  .description("send lines typed here to a topic (created with the cluster's defaults if missing)")
  .requiredOption("--topic <name>", "topic")
  .option("--in <cluster>", "the simulated cluster the producer runs in", "east")
  .action(async (o: { topic: string; in: string }) => {
    process.exitCode = await produce(o);
  });

box
  .command("consume")
  .description("print a topic's records from the beginning")
  .requiredOption("--topic <name>", "topic")
  .option("--in <cluster>", "the simulated cluster the consumer runs in", "east")
  .action(async (o: { topic: string; in: string }) => {
    process.exitCode = await consume(o);
  });

for (const action of ["stop", "start"] as const) {
  box
    .command(`${action}-cluster`)
    .argument("<cluster>", "east, west or north")
    .description(
      action === "stop"
        ? "lose a whole simulated cluster: its API server and its Kafka processes are killed"
        : "bring a stopped cluster back: its API server with its data, its Kafka on its volumes",
    )
    .action(async (cluster: string) => {
      console.log(await clusterAction(action, cluster));
    });
}

box
  .command("kubectl")
  .argument("<cluster>", "central, east, west or north")
  .argument("[args...]", "kubectl's arguments, e.g. drain east-node-1 --ignore-daemonsets")
  .description("kubectl against one of the sandbox's clusters (e.g. to drain a node)")
  .allowUnknownOption()
  .helpOption(false)
  .action(async (cluster: string, args: string[]) => {
    process.exitCode = await kubectl(cluster, args);
  });

try {
  await program.parseAsync();
} catch (err) {
  console.error(`devbed: ${describeError(err)}`);
  process.exit(1);
}
