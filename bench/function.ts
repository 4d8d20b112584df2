/**
 * `npm run bench:function`: RunFunction latency over gRPC (as Crossplane calls
 * it), from 3 clusters × 3 nodes to 7 clusters × 300 nodes each. Prints the
 * figures and writes bench-results/function.json.
 * Target: p99 under 5 ms for 3 × 3, growing no faster than linearly.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Ready,
  RunFunctionResponse,
  Severity,
  type RunFunctionRequest,
} from "@crossplane-org/function-sdk-typescript";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { request } from "../functions/render.ts";
import { freePort } from "../test/bed/clusters.ts";
import type { StretchKafkaSpec } from "../apis/index.ts";

interface Case {
  clusters: number;
  nodesPerCluster: number;
  iterations: number;
}

const cases: Case[] = [
  { clusters: 3, nodesPerCluster: 3, iterations: 400 },
  { clusters: 3, nodesPerCluster: 10, iterations: 200 },
  { clusters: 5, nodesPerCluster: 30, iterations: 60 },
  { clusters: 7, nodesPerCluster: 100, iterations: 20 },
  { clusters: 7, nodesPerCluster: 300, iterations: 10 },
];

/** One controller per cluster, the rest brokers. */
function spec(clusters: number, nodesPerCluster: number): StretchKafkaSpec {
  const names = Array.from({ length: clusters }, (_, i) => `c${i}`);
  const [first, ...rest] = names.map((name) => ({
    name,
    providerConfigRef: { name },
    nodePools: [
      { name: "controllers", roles: ["controller" as const], replicas: 1 },
      { name: "brokers", roles: ["broker" as const], replicas: nodesPerCluster - 1 },
    ] as StretchKafkaSpec["clusters"][number]["nodePools"],
  }));
  if (!first) throw new Error("no clusters");
  return {
    kafka: { version: "4.1.0" },
    networking: { provider: "mcs" },
    clusters: [first, ...rest],
  };
}

function requestFor(c: Case): RunFunctionRequest {
  const s = spec(c.clusters, c.nodesPerCluster);
  const req = request(
    {
      apiVersion: "stretchkafka.dev/v1alpha1",
      kind: "XStretchKafka",
      metadata: { name: "bench", uid: "bench-uid" },
      spec: s,
    },
    [],
  );
  // As Crossplane sends it on every call after the first: the ProviderConfigs found.
  for (const cl of s.clusters) {
    req.requiredResources[`providerconfig-${cl.name}`] = {
      items: [
        {
          resource: {
            apiVersion: "remote.stretchkafka.dev/v1alpha1",
            kind: "ProviderConfig",
            metadata: { name: cl.name },
          },
          connectionDetails: {},
          ready: Ready.READY_UNSPECIFIED,
        },
      ],
    };
  }
  return req;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? NaN;
}

async function main(): Promise<void> {
  // The function in its own process, started the way it is deployed.
  const port = await freePort();
  const fn = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("../controller/cli/main.ts", import.meta.url)),
      "function",
      "--insecure",
      "--address",
      `127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    fn.stdout.on("data", (b: Buffer) => {
      if (b.toString().includes("serving")) resolve();
    });
    fn.on("exit", (code) => {
      reject(new Error(`the function exited with ${String(code)} before serving`));
    });
  });
  // The caller keeps the response as bytes: the figure is the function's latency
  // (decode, compose, encode, transport), not this client's JavaScript decoding
  // of 0.1-22 MiB of protobuf Structs (Crossplane decodes in Go).
  const service = {
    runFunction: {
      ...FunctionRunnerServiceService.runFunction,
      responseDeserialize: (b: Buffer): Buffer => b,
    },
  };
  const Client = grpc.makeGenericClientConstructor(service, "FunctionRunnerService");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
  });
  const call = (req: RunFunctionRequest): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const method = client["runFunction"] as (
        r: RunFunctionRequest,
        cb: (err: grpc.ServiceError | null, rsp: Buffer) => void,
      ) => void;
      method.call(client, req, (err, rsp) => {
        if (err) reject(err);
        else resolve(rsp);
      });
    });

  const results: {
    clusters: number;
    nodes: number;
    p50Ms: number;
    p99Ms: number;
    managedResources: number;
    responseMiB: number;
  }[] = [];
  console.log("clusters  nodes  managed-resources  response-MiB   p50 ms   p99 ms");
  for (const c of cases) {
    const req = requestFor(c);
    const warm = RunFunctionResponse.decode(await call(req));
    const fatal = warm.results.find((r) => r.severity === Severity.SEVERITY_FATAL);
    if (fatal) throw new Error(`the function refused the benchmark claim: ${fatal.message}`);
    for (let i = 0; i < 3; i++) await call(req);
    const samples: number[] = [];
    for (let i = 0; i < c.iterations; i++) {
      const t0 = performance.now();
      await call(req);
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    const row = {
      clusters: c.clusters,
      nodes: c.clusters * c.nodesPerCluster,
      p50Ms: Number(percentile(samples, 50).toFixed(2)),
      p99Ms: Number(percentile(samples, 99).toFixed(2)),
      managedResources: Object.keys(warm.desired?.resources ?? {}).length,
      responseMiB: Number(((await call(req)).length / 1048576).toFixed(1)),
    };
    results.push(row);
    console.log(
      `${String(row.clusters).padStart(8)} ${String(row.nodes).padStart(6)} ${String(row.managedResources).padStart(18)} ${String(row.responseMiB).padStart(13)} ${row.p50Ms.toFixed(2).padStart(8)} ${row.p99Ms.toFixed(2).padStart(8)}`,
    );
  }
  client.close();
  fn.kill("SIGTERM");

  const base = results[0];
  const small = base ? base.p99Ms : NaN;
  const perNode = results.map((r) => r.p50Ms / r.nodes);
  console.log(
    `\ntarget: p99 < 5 ms at 3 x 3 nodes: ${small.toFixed(2)} ms ${small < 5 ? "(met)" : "(NOT met)"}`,
  );
  console.log(
    `p50 per node, small to large: ${perNode.map((x) => x.toFixed(3)).join(", ")} ms (linear growth keeps this flat or falling)`,
  );
  mkdirSync("bench-results", { recursive: true });
  writeFileSync("bench-results/function.json", JSON.stringify({ cases: results }, null, 2) + "\n");
  console.log("written to bench-results/function.json");
}

await main();
