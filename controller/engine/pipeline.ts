/**
 * Runs a Composition's pipeline the way Crossplane does: each step gets the
 * desired state and context the previous one left; a step that states
 * requirements is called again with them until they settle; a fatal result
 * stops the pipeline. Functions run in-process or over gRPC with the same
 * RunFunctionRequest/Response.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Ready,
  RunFunctionResponse as RunFunctionResponseCodec,
  Severity,
  type Condition,
  type ResourceSelector,
  type Result,
  type RunFunctionRequest,
  type RunFunctionResponse,
  type State,
} from "@crossplane-org/function-sdk-typescript";
import type { KubeObject } from "../kube/dynamic.ts";

export type FunctionRunner = (req: RunFunctionRequest) => Promise<RunFunctionResponse>;

export interface PipelineStep {
  step: string;
  functionRef: { name: string };
}

/** What the pipeline produced, merged over its steps. */
export interface PipelineOutput {
  desired: State;
  /** Every step's results, with the step that gave them (Crossplane's events say which). */
  results: { step: string; result: Result }[];
  conditions: Condition[];
  /** Shortest TTL any step asked for, in seconds. */
  ttlSeconds: number | undefined;
  /** Messages of fatal results: nothing may be applied when there are any. */
  fatal: string[];
  /** The last step's response, as Crossplane keeps it. */
  last: RunFunctionResponse | undefined;
}

/** Most calls of one step before its requirements must have settled (as Crossplane). */
const maxRequirementRounds = 5;
const callTimeoutMs = 30_000;

export async function runPipeline(
  steps: PipelineStep[],
  runners: ReadonlyMap<string, FunctionRunner>,
  request: RunFunctionRequest,
  fetch: (selector: ResourceSelector) => Promise<KubeObject[]>,
): Promise<PipelineOutput> {
  const out: PipelineOutput = {
    desired: request.desired ?? { composite: undefined, resources: {} },
    results: [],
    conditions: [],
    ttlSeconds: undefined,
    fatal: [],
    last: undefined,
  };
  let context = request.context;
  for (const step of steps) {
    const run = runners.get(step.functionRef.name);
    if (!run) {
      out.fatal.push(
        `pipeline step ${step.step}: no function ${step.functionRef.name} is known to this engine; give its address with --function ${step.functionRef.name}=HOST:PORT`,
      );
      return out;
    }
    const req: RunFunctionRequest = {
      ...request,
      desired: out.desired,
      context,
      requiredResources: {},
    };
    let rsp = await run(req);
    for (let round = 1; round < maxRequirementRounds; round++) {
      const wanted = rsp.requirements?.resources ?? {};
      const missing = Object.keys(wanted).filter((k) => !(k in req.requiredResources));
      if (missing.length === 0) break;
      for (const [key, selector] of Object.entries(wanted)) {
        const items = await fetch(selector);
        req.requiredResources[key] = {
          items: items.map((o) => ({
            resource: o,
            connectionDetails: {},
            ready: Ready.READY_UNSPECIFIED,
          })),
        };
      }
      rsp = await run(req);
    }
    out.last = rsp;
    out.results.push(...rsp.results.map((result) => ({ step: step.step, result })));
    out.conditions.push(...rsp.conditions);
    const ttl = rsp.meta?.ttl?.seconds;
    if (ttl !== undefined && ttl > 0) out.ttlSeconds = Math.min(out.ttlSeconds ?? ttl, ttl);
    const fatal = rsp.results.filter((r) => r.severity === Severity.SEVERITY_FATAL);
    if (fatal.length > 0) {
      out.fatal.push(...fatal.map((r) => `pipeline step ${step.step}: ${r.message}`));
      return out;
    }
    if (rsp.desired) out.desired = rsp.desired;
    context = rsp.context;
  }
  return out;
}

/** An in-process function: the same code the gRPC server runs. */
export function inProcess(fn: (req: RunFunctionRequest) => RunFunctionResponse): FunctionRunner {
  return (req) => Promise.resolve(fn(req));
}

/**
 * A function over gRPC at `address`: TLS with the client certificate in
 * `tlsCertsDir` (tls.crt, tls.key, ca.crt, Crossplane's layout), or plain
 * text when none is given.
 */
export function overGrpc(address: string, tlsCertsDir?: string): FunctionRunner {
  const creds = tlsCertsDir
    ? grpc.credentials.createSsl(
        readFileSync(join(tlsCertsDir, "ca.crt")),
        readFileSync(join(tlsCertsDir, "tls.key")),
        readFileSync(join(tlsCertsDir, "tls.crt")),
      )
    : grpc.credentials.createInsecure();
  const Client = grpc.makeGenericClientConstructor(
    FunctionRunnerServiceService,
    "FunctionRunnerService",
  );
  const client = new Client(address, creds, {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
  });
  const method = client["runFunction"] as (
    req: RunFunctionRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, rsp: RunFunctionResponse) => void,
  ) => void;
  return (req) =>
    new Promise((resolve, reject) => {
      method.call(
        client,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + callTimeoutMs },
        (err, rsp) => {
          if (err) reject(new Error(`function at ${address}: ${err.message}`, { cause: err }));
          else resolve(RunFunctionResponseCodec.fromPartial(rsp));
        },
      );
    });
}
