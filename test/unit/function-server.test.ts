/**
 * The gRPC server answers a repeated request from its response cache and
 * composes anew for anything that differs; failures are never remembered.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import {
  FunctionRunnerServiceService,
  Ready,
  RunFunctionRequest,
  RunFunctionResponse,
  Severity,
  type ResourceSelector,
} from "@crossplane-org/function-sdk-typescript";
import { serve, type RunFunction, type Served } from "../../functions/server.ts";
import { ResponseCache } from "../../functions/response-cache.ts";
import { compose } from "../../functions/stretch-kafka/compose.ts";
import { asComposite, request } from "../../functions/render.ts";
import { loadExample, exampleClaims } from "../examples.ts";
import { inProcess, overGrpc, runPipeline } from "../../controller/engine/pipeline.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";

const servers: Served[] = [];
after(() => {
  for (const s of servers) s.forceShutdown();
});

/** A served function that counts the calls that reached it. */
async function counted(
  cacheBytes: number,
  fn: RunFunction = compose,
  maxResponseBytes?: number,
): Promise<{ calls: () => number; run: (r: RunFunctionRequest) => Promise<RunFunctionResponse> }> {
  let n = 0;
  const server = await serve(
    (req) => {
      n++;
      return fn(req);
    },
    {
      address: "127.0.0.1:0",
      insecure: true,
      tlsServerCertsDir: "",
      responseCacheBytes: cacheBytes,
      ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
    },
    pino({ level: "silent" }),
  );
  servers.push(server);
  const Client = grpc.makeGenericClientConstructor(
    FunctionRunnerServiceService,
    "FunctionRunnerService",
  );
  const client = new Client(`127.0.0.1:${String(server.port)}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
  const run = (r: RunFunctionRequest): Promise<RunFunctionResponse> =>
    new Promise((resolve, reject) => {
      const method = client["runFunction"] as (
        r: RunFunctionRequest,
        cb: (err: grpc.ServiceError | null, rsp: RunFunctionResponse) => void,
      ) => void;
      method.call(client, r, (err, rsp) => {
        if (err) reject(err);
        else resolve(rsp);
      });
    });
  return { calls: () => n, run };
}

function exampleRequest(replicas?: number): RunFunctionRequest {
  const file = exampleClaims[0];
  if (!file) throw new Error("no examples");
  const { claim, observed } = loadExample(file);
  const xr = asComposite(claim);
  if (replicas !== undefined) {
    const spec = xr["spec"] as { clusters: { nodePools: { replicas: number }[] }[] };
    const pool = spec.clusters[0]?.nodePools[0];
    if (!pool) throw new Error("the example has no pool");
    pool.replicas = replicas;
  }
  return request(xr, observed);
}

const resources = (r: RunFunctionResponse): string[] => Object.keys(r.desired?.resources ?? {});

describe("response size", () => {
  /** A function whose desired state is one resource holding `bytes` characters. */
  const sized =
    (bytes: number): RunFunction =>
    (req) => ({
      ...compose(req),
      desired: {
        composite: undefined,
        resources: {
          big: {
            resource: { blob: "x".repeat(bytes) },
            connectionDetails: {},
            ready: Ready.READY_UNSPECIFIED,
          },
        },
      },
    });

  test("a response larger than Crossplane accepts (4 MiB) becomes a fatal result that says so", async () => {
    const fn = await counted(1 << 30, sized(5 * 1024 * 1024));
    const refused = await fn.run(exampleRequest());
    const [only, ...rest] = refused.results;
    assert.equal(rest.length, 0);
    assert.equal(only?.severity, Severity.SEVERITY_FATAL);
    assert.match(only.message, /is 5\.0 MiB encoded, more than the 4\.0 MiB/);
    assert.match(only.message, /nothing was changed/);
    assert.deepEqual(resources(refused), [], "no desired resources: nothing is applied");
    await fn.run(exampleRequest());
    assert.equal(fn.calls(), 2, "a refusal is not remembered");
  });

  test("the limit is the server's to set, and 0 lifts it", async () => {
    const small = await counted(0, sized(64 * 1024), 32 * 1024);
    assert.equal((await small.run(exampleRequest())).results[0]?.severity, Severity.SEVERITY_FATAL);
    const unlimited = await counted(0, sized(5 * 1024 * 1024), 0);
    assert.deepEqual(resources(await unlimited.run(exampleRequest())), ["big"]);
  });
});

describe("response cache over gRPC", () => {
  test("the same request twice is composed once and answered the same", async () => {
    const fn = await counted(1 << 20);
    const first = await fn.run(exampleRequest());
    const second = await fn.run(exampleRequest());
    assert.equal(fn.calls(), 1);
    assert.deepEqual(second, first);
  });

  test("a request that differs in content is composed anew, never answered stale", async () => {
    const fn = await counted(1 << 20);
    const small = await fn.run(exampleRequest());
    const larger = await fn.run(exampleRequest(7));
    assert.equal(fn.calls(), 2);
    assert.ok(resources(larger).length > resources(small).length, "the new pool size shows");
  });

  test("requests are keyed by Crossplane's tag when they carry one", async () => {
    const fn = await counted(1 << 20);
    const tagged = (tag: string, replicas?: number): RunFunctionRequest => ({
      ...exampleRequest(replicas),
      meta: { tag, capabilities: [] },
    });
    await fn.run(tagged("a"));
    await fn.run(tagged("a"));
    assert.equal(fn.calls(), 1);
    const b = await fn.run(tagged("b", 7));
    assert.equal(fn.calls(), 2);
    assert.equal(b.meta?.tag, "b");
  });

  test("one tag with the required resources Crossplane fetched after tagging is composed anew", async () => {
    // Crossplane tags the request once, then calls again with what the first
    // answer required: that answer must use them, not repeat the first one.
    const fn = await counted(1 << 20);
    const first = { ...exampleRequest(), meta: { tag: "one-reconcile", capabilities: [] } };
    const asked = await fn.run(first);
    const wanted = Object.keys(asked.requirements?.resources ?? {});
    assert.ok(wanted.length > 0, "the function requires the ProviderConfigs");
    const missing = await fn.run({
      ...first,
      requiredResources: Object.fromEntries(wanted.map((k) => [k, { items: [] }])),
    });
    assert.equal(fn.calls(), 2, "the second call reached the function");
    assert.deepEqual(resources(missing), [], "a missing ProviderConfig composes nothing");
    assert.match(
      missing.results.map((r) => r.message).join("\n"),
      /ProviderConfig "[^"]+" does not exist/,
      "and the answer says which is missing",
    );
  });

  test("a function that threw is asked again next time", async () => {
    let fail = true;
    const fn = await counted(1 << 20, (req) => {
      if (fail) throw new Error("transient");
      return compose(req);
    });
    const refused = await fn.run(exampleRequest());
    assert.equal(refused.results[0]?.severity, Severity.SEVERITY_FATAL);
    fail = false;
    const ok = await fn.run(exampleRequest());
    assert.equal(fn.calls(), 2);
    assert.ok(resources(ok).length > 10);
  });

  test("a cache of 0 bytes composes every call", async () => {
    const fn = await counted(0);
    await fn.run(exampleRequest());
    await fn.run(exampleRequest());
    assert.equal(fn.calls(), 2);
  });
});

describe("ResponseCache", () => {
  test("keeps at most its bytes, dropping the least recently used", () => {
    const cache = new ResponseCache(10);
    cache.set("a", Buffer.alloc(4));
    cache.set("b", Buffer.alloc(4));
    assert.ok(cache.get("a"), "a is used, so b is now the oldest");
    cache.set("c", Buffer.alloc(4));
    assert.equal(cache.get("b"), undefined);
    assert.ok(cache.get("a"));
    assert.ok(cache.get("c"));
    assert.deepEqual(cache.size, { entries: 2, bytes: 8 });
  });

  test("a response larger than the whole cache is not kept and evicts nothing", () => {
    const cache = new ResponseCache(10);
    cache.set("a", Buffer.alloc(4));
    cache.set("huge", Buffer.alloc(11));
    assert.equal(cache.get("huge"), undefined);
    assert.ok(cache.get("a"));
  });

  test("replacing an entry counts its bytes once", () => {
    const cache = new ResponseCache(10);
    cache.set("a", Buffer.alloc(4));
    cache.set("a", Buffer.alloc(6));
    assert.deepEqual(cache.size, { entries: 1, bytes: 6 });
  });

  test("the key is the tag and what Crossplane fetched after tagging, else the bytes' digest", () => {
    const bytes = Buffer.from("request");
    const tagged = (tag: string, required: RunFunctionRequest["requiredResources"] = {}) =>
      ResponseCache.key(
        { ...exampleRequest(), meta: { tag, capabilities: [] }, requiredResources: required },
        bytes,
      );
    assert.equal(tagged("t1"), tagged("t1"));
    assert.notEqual(tagged("t1"), tagged("t2"));
    const pc = (name: string): RunFunctionRequest["requiredResources"] => ({
      east: {
        items: [
          {
            resource: { kind: "ProviderConfig", metadata: { name } },
            connectionDetails: {},
            ready: Ready.READY_UNSPECIFIED,
          },
        ],
      },
    });
    assert.notEqual(
      tagged("t1"),
      tagged("t1", pc("east")),
      "required resources added under one tag",
    );
    assert.notEqual(tagged("t1", pc("east")), tagged("t1", pc("west")));
    const untagged = (b: Buffer): string =>
      ResponseCache.key({ ...exampleRequest(), meta: { tag: "", capabilities: [] } }, b);
    assert.equal(untagged(bytes), untagged(Buffer.from("request")));
    assert.notEqual(untagged(bytes), untagged(Buffer.from("requesT")));
  });
});

describe("the engine's pipeline runner", () => {
  test("over gRPC it gets what in-process gets, requirements included", async () => {
    const server = await serve(
      compose,
      { address: "127.0.0.1:0", insecure: true, tlsServerCertsDir: "", responseCacheBytes: 0 },
      pino({ level: "silent" }),
    );
    servers.push(server);
    const file = exampleClaims[0];
    if (!file) throw new Error("no examples");
    const { claim, observed, required } = loadExample(file);
    const steps = [{ step: "stretch-kafka", functionRef: { name: "fn" } }];
    const fetched: string[] = [];
    const fetch = (s: ResourceSelector): Promise<KubeObject[]> => {
      fetched.push(`${s.kind}/${s.matchName ?? ""}`);
      const found = required.filter((o) => o.kind === s.kind && o.metadata.name === s.matchName);
      return Promise.resolve(found);
    };
    const run = (runner: Parameters<typeof runPipeline>[1]) =>
      runPipeline(steps, runner, request(asComposite(claim), observed), fetch);
    const local = await run(new Map([["fn", inProcess(compose)]]));
    const remote = await run(new Map([["fn", overGrpc(`127.0.0.1:${String(server.port)}`)]]));
    assert.deepEqual(remote.fatal, []);
    assert.ok(
      fetched.some((f) => f.startsWith("ProviderConfig/")),
      "the ProviderConfigs were required",
    );
    assert.deepEqual(remote.desired, local.desired);
    assert.deepEqual(remote.conditions, local.conditions);
    assert.ok(Object.keys(remote.desired.resources).length > 10);
  });

  test("a step naming an unknown function is refused, saying how to give it", async () => {
    const out = await runPipeline(
      [{ step: "extra", functionRef: { name: "function-other" } }],
      new Map(),
      exampleRequest(),
      () => Promise.resolve([]),
    );
    assert.match(out.fatal[0] ?? "", /--function function-other=HOST:PORT/);
  });
});
