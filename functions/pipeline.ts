/**
 * Runs a Composition's pipeline the way Crossplane does: each step gets the
 * desired state and context the previous one left; a step that states
 * requirements is called again with them until they settle; a fatal result
 * stops the pipeline. One pipeline for the engine, `render` and functions
 * over gRPC (controller/engine/pipeline.ts), all with the same
 * RunFunctionRequest/Response.
 */
import {
  Ready,
  Severity,
  type Condition,
  type ResourceSelector,
  type Result,
  type RunFunctionRequest,
  type RunFunctionResponse,
  type State,
} from "@crossplane-org/function-sdk-typescript";
import type { KubeObject } from "../apis/meta.ts";

export type FunctionRunner = (req: RunFunctionRequest) => Promise<RunFunctionResponse>;

export interface PipelineStep {
  step: string;
  functionRef: { name: string };
  /** The step's input, given to its function as it is (Crossplane's `input`). */
  input?: Record<string, unknown>;
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

/** What the pipeline needs done for it: a function called, or required resources fetched. */
type Effect = { call: string; req: RunFunctionRequest } | { fetch: ResourceSelector };

/**
 * The pipeline, once, for every way it runs (the engine, `render`, a function
 * over gRPC): it yields each call and fetch to a driver, which answers with
 * the response or the objects, synchronously or not.
 */
function* pipeline(
  steps: PipelineStep[],
  known: (fn: string) => boolean,
  request: RunFunctionRequest,
): Generator<Effect, PipelineOutput, unknown> {
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
    if (!known(step.functionRef.name)) {
      out.fatal.push(
        `pipeline step ${step.step}: no function ${step.functionRef.name} is known to this engine; give its address with --function ${step.functionRef.name}=HOST:PORT`,
      );
      return out;
    }
    // Each call gets a request of its own: a function may keep (or freeze) what it was given.
    let required: RunFunctionRequest["requiredResources"] = {};
    const requestWith = (): RunFunctionRequest => ({
      ...request,
      ...(step.input ? { input: step.input } : {}),
      desired: out.desired,
      context,
      requiredResources: required,
    });
    let rsp = (yield { call: step.functionRef.name, req: requestWith() }) as RunFunctionResponse;
    for (let round = 1; round < maxRequirementRounds; round++) {
      const wanted = rsp.requirements?.resources ?? {};
      const missing = Object.keys(wanted).filter((k) => !(k in required));
      if (missing.length === 0) break;
      required = { ...required };
      for (const [key, selector] of Object.entries(wanted)) {
        const items = (yield { fetch: selector }) as KubeObject[];
        required[key] = {
          items: items.map((o) => ({
            resource: o,
            connectionDetails: {},
            ready: Ready.READY_UNSPECIFIED,
          })),
        };
      }
      rsp = (yield { call: step.functionRef.name, req: requestWith() }) as RunFunctionResponse;
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

/** Runs a pipeline with functions that answer asynchronously (in-process or over gRPC). */
export async function runPipeline(
  steps: PipelineStep[],
  runners: ReadonlyMap<string, FunctionRunner>,
  request: RunFunctionRequest,
  fetch: (selector: ResourceSelector) => Promise<KubeObject[]>,
): Promise<PipelineOutput> {
  const run = pipeline(steps, (fn) => runners.has(fn), request);
  let next = run.next();
  while (!next.done) {
    const effect = next.value;
    if ("fetch" in effect) next = run.next(await fetch(effect.fetch));
    else {
      const runner = runners.get(effect.call);
      if (!runner) throw new Error(`no function ${effect.call}`);
      next = run.next(await runner(effect.req));
    }
  }
  return next.value;
}

/** The same pipeline with in-process functions and objects at hand (`render`). */
export function runPipelineSync(
  steps: PipelineStep[],
  functions: ReadonlyMap<string, (req: RunFunctionRequest) => RunFunctionResponse>,
  request: RunFunctionRequest,
  fetch: (selector: ResourceSelector) => KubeObject[],
): PipelineOutput {
  const run = pipeline(steps, (fn) => functions.has(fn), request);
  let next = run.next();
  while (!next.done) {
    const effect = next.value;
    if ("fetch" in effect) next = run.next(fetch(effect.fetch));
    else {
      const fn = functions.get(effect.call);
      if (!fn) throw new Error(`no function ${effect.call}`);
      next = run.next(fn(effect.req));
    }
  }
  return next.value;
}

/** An in-process function: the same code the gRPC server runs. */
export function inProcess(fn: (req: RunFunctionRequest) => RunFunctionResponse): FunctionRunner {
  return (req) => Promise.resolve(fn(req));
}
