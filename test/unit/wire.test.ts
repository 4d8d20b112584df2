/** The fast response encoder decodes to exactly what ts-proto's encoder does. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Ready, RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { encodeResponse } from "../../functions/wire.ts";
import { runPipeline, asComposite } from "../../functions/render.ts";
import { exampleClaims, loadExample } from "../examples.ts";

for (const file of exampleClaims) {
  test(`${file}: the fast encoding decodes to the same response`, () => {
    const { claim, observed, required } = loadExample(file);
    const rsp = runPipeline(asComposite(claim), observed, required);
    const ours = RunFunctionResponse.decode(encodeResponse(rsp));
    const theirs = RunFunctionResponse.decode(RunFunctionResponse.encode(rsp).finish());
    assert.deepEqual(ours, theirs);
    assert.ok(Object.keys(ours.desired?.resources ?? {}).length > 10);
  });
}

test("every kind of JSON value survives, including null, nested lists and empty objects", () => {
  const resource = {
    s: "x",
    utf8: "zürich ✓ 𝄞 ç",
    n: 1.5,
    i: -3,
    t: true,
    f: false,
    z: null,
    e: {},
    l: [1, "a", [null, { k: [true] }], {}],
    deep: { a: { b: { c: "d" } } },
  };
  const rsp = RunFunctionResponse.fromPartial({
    desired: {
      composite: {
        resource,
        connectionDetails: { "ca.crt": Buffer.from("pem") },
        ready: Ready.READY_TRUE,
      },
      resources: { one: { resource, connectionDetails: {}, ready: Ready.READY_FALSE } },
    },
  });
  const ours = RunFunctionResponse.decode(encodeResponse(rsp));
  assert.deepEqual(ours, RunFunctionResponse.decode(RunFunctionResponse.encode(rsp).finish()));
  assert.deepEqual(ours.desired?.resources["one"]?.resource, resource);
});

test("responses larger than the reused buffer grow it, and an earlier result is never overwritten", () => {
  const big = (fill: string): RunFunctionResponse =>
    RunFunctionResponse.fromPartial({
      desired: {
        resources: Object.fromEntries(
          Array.from({ length: 300 }, (_, i) => [
            `r${String(i)}`,
            {
              resource: { data: { blob: fill.repeat(20_000), ü: [i, `ß${fill}`] } },
              connectionDetails: {},
              ready: Ready.READY_TRUE,
            },
          ]),
        ),
      },
    });
  const first = encodeResponse(big("a"));
  const copy = Buffer.from(first);
  const second = encodeResponse(big("b"));
  assert.ok(first.length > 4 * 1024 * 1024, "larger than the buffer kept between calls");
  assert.deepEqual(first, copy);
  assert.deepEqual(
    RunFunctionResponse.decode(second),
    RunFunctionResponse.decode(RunFunctionResponse.encode(big("b")).finish()),
  );
  assert.deepEqual(encodeResponse(big("b")), second, "the same response, the same bytes");
});
