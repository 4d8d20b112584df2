/**
 * `npm run bench:function`: RunFunction latency over gRPC (as Crossplane calls
 * it), from 3 clusters × 3 nodes to 7 clusters × 300 nodes each. Prints the
 * figures and writes bench-results/function.json.
 * Two figures per size: a request the function has not seen (each call gets
 * its own tag, as when the composite or observed state changed) and a repeated
 * one (what Crossplane sends on every reconcile of an unchanged composite),
 * answered from the response cache.
 * Target: p99 under 5 ms for 3 × 3, growing no faster than linearly.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Ready,
  RunFunctionRequest,
  RunFunctionResponse,
  Severity,
} from "@crossplane-org/function-sdk-typescript";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout } from "node:timers/promises";
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
  { clusters: 3, nodesPerCluster: 3, iterations: 2000 },
  { clusters: 3, nodesPerCluster: 10, iterations: 500 },
  { clusters: 5, nodesPerCluster: 30, iterations: 100 },
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
      // Logs each call's time inside the function (decode, compose, encode).
      "--debug",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const handlerMs: number[] = [];
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: fn.stdout }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; ms?: number };
      if (entry.msg === "RunFunction" && entry.ms !== undefined) handlerMs.push(entry.ms);
      if (entry.msg?.includes("serving")) resolve();
    });
    fn.on("exit", (code) => {
      reject(new Error(`the function exited with ${String(code)} before serving`));
    });
  });
  // The caller sends requests encoded beforehand and keeps the response as
  // bytes: the figure is the function's latency (decode, compose, encode,
  // transport), not this client's JavaScript protobuf work (Crossplane's is Go).
  const service = {
    runFunction: {
      ...FunctionRunnerServiceService.runFunction,
      requestSerialize: (b: Buffer): Buffer => b,
      responseDeserialize: (b: Buffer): Buffer => b,
    },
  };
  const Client = grpc.makeGenericClientConstructor(service, "FunctionRunnerService");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
    // Go's gRPC (Crossplane's side) grows its window to the bandwidth-delay
    // product; grpc-js keeps HTTP/2's 64 KiB unless told, which would stall
    // every response larger than that on a window update.
    "grpc-node.flow_control_window": 16 * 1024 * 1024,
  });
  const call = (req: Buffer): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const method = client["runFunction"] as (
        r: Buffer,
        cb: (err: grpc.ServiceError | null, rsp: Buffer) => void,
      ) => void;
      method.call(client, req, (err, rsp) => {
        if (err) reject(err);
        else resolve(rsp);
      });
    });

  const tagged = (req: RunFunctionRequest, tag: string): Buffer =>
    Buffer.from(
      RunFunctionRequest.encode({
        ...req,
        meta: { tag, capabilities: req.meta?.capabilities ?? [] },
      }).finish(),
    );
  /**
   * Milliseconds per call as the caller sees them and as the function spent
   * them, each sorted; `tag` gives each call's request.
   */
  const measure = async (
    iterations: number,
    req: RunFunctionRequest,
    tag: (i: number) => string,
  ): Promise<{ call: number[]; inside: number[] }> => {
    // Warm: the function is a long-running server; the figure is its steady state,
    // not the first calls that still compile code.
    const warmUntil = performance.now() + 1000;
    for (let i = 0; i < 3 || performance.now() < warmUntil; i++) {
      await call(tagged(req, tag(-1 - i)));
    }
    const requests = Array.from({ length: iterations }, (_, i) => tagged(req, tag(i)));
    const samples: number[] = [];
    const logged = handlerMs.length;
    for (const r of requests) {
      const t0 = performance.now();
      await call(r);
      samples.push(performance.now() - t0);
    }
    while (handlerMs.length < logged + iterations) await setTimeout(10);
    const inside = handlerMs.slice(logged, logged + iterations);
    return { call: samples.sort((a, b) => a - b), inside: inside.sort((a, b) => a - b) };
  };
  const ms = (samples: number[], p: number): number => Number(percentile(samples, p).toFixed(2));

  const results: {
    clusters: number;
    nodes: number;
    p50Ms: number;
    p99Ms: number;
    insideP50Ms: number;
    insideP99Ms: number;
    cachedP50Ms: number;
    cachedP99Ms: number;
    cachedInsideP99Ms: number;
    managedResources: number;
    responseMiB: number;
  }[] = [];
  console.log(
    "                                                  new request               repeated request",
  );
  console.log(
    "                                                call ms    inside ms      call ms   inside",
  );
  console.log(
    "clusters  nodes  managed-resources  response-MiB   p50    p99   p50   p99    p50    p99    p99",
  );
  for (const [n, c] of cases.entries()) {
    const req = requestFor(c);
    const first = await call(tagged(req, `case-${String(n)}`));
    const warm = RunFunctionResponse.decode(first);
    const fatal = warm.results.find((r) => r.severity === Severity.SEVERITY_FATAL);
    if (fatal) throw new Error(`the function refused the benchmark claim: ${fatal.message}`);
    const fresh = await measure(c.iterations, req, (i) => `case-${String(n)}-${String(i)}`);
    const repeated = await measure(c.iterations, req, () => `case-${String(n)}`);
    const row = {
      clusters: c.clusters,
      nodes: c.clusters * c.nodesPerCluster,
      p50Ms: ms(fresh.call, 50),
      p99Ms: ms(fresh.call, 99),
      insideP50Ms: ms(fresh.inside, 50),
      insideP99Ms: ms(fresh.inside, 99),
      cachedP50Ms: ms(repeated.call, 50),
      cachedP99Ms: ms(repeated.call, 99),
      cachedInsideP99Ms: ms(repeated.inside, 99),
      managedResources: Object.keys(warm.desired?.resources ?? {}).length,
      responseMiB: Number((first.length / 1048576).toFixed(1)),
    };
    results.push(row);
    const col = (v: number, w: number): string => v.toFixed(v < 100 ? 2 : 0).padStart(w);
    console.log(
      `${String(row.clusters).padStart(8)} ${String(row.nodes).padStart(6)} ${String(row.managedResources).padStart(18)} ${String(row.responseMiB).padStart(13)} ${col(row.p50Ms, 6)} ${col(row.p99Ms, 6)} ${col(row.insideP50Ms, 5)} ${col(row.insideP99Ms, 5)} ${col(row.cachedP50Ms, 6)} ${col(row.cachedP99Ms, 6)} ${col(row.cachedInsideP99Ms, 6)}`,
    );
  }
  client.close();
  fn.kill("SIGTERM");

  const base = results[0];
  const verdict = (v: number): string => `${v.toFixed(2)} ms ${v < 5 ? "(met)" : "(NOT met)"}`;
  const perNode = results.map((r) => r.p50Ms / r.nodes);
  console.log(`\ntarget: p99 < 5 ms at 3 x 3 nodes`);
  console.log(`  inside the function, new request:   ${verdict(base?.insideP99Ms ?? NaN)}`);
  console.log(`  over gRPC, new request:             ${verdict(base?.p99Ms ?? NaN)}`);
  console.log(`  over gRPC, repeated request:        ${verdict(base?.cachedP99Ms ?? NaN)}`);
  console.log(
    "  (a repeated request is answered from the cache: its call time is this machine's gRPC floor for that response size)",
  );
  console.log(
    `p50 per node, small to large: ${perNode.map((x) => x.toFixed(3)).join(", ")} ms (linear growth keeps this flat or falling)`,
  );
  mkdirSync("bench-results", { recursive: true });
  writeFileSync("bench-results/function.json", JSON.stringify({ cases: results }, null, 2) + "\n");
  console.log("written to bench-results/function.json");
}

await main();
