/**
 * The function is pure: run over every example (and, through
 * function-fixtures.ts, every fixture of the other function tests) with its
 * request deeply frozen, it writes nothing into what it was given, and the
 * same request gives the same response.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import cloneDeep from "lodash/cloneDeep.js";
import type {
  RunFunctionRequest,
  RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import { asComposite, render, runPipeline, type KubeObject } from "../../functions/render.ts";
import { compose } from "../../functions/stretch-kafka/compose.ts";
import { exampleClaims, loadExample } from "../examples.ts";
import { composeFrozen, deepFreeze } from "./frozen.ts";
import { observedFrom } from "./function-fixtures.ts";

for (const file of exampleClaims) {
  test(`${file}: the function writes nothing into its frozen request, and answers it the same twice`, () => {
    const { claim, observed, required } = loadExample(file);
    const xr = asComposite(claim);
    const requests: RunFunctionRequest[] = [];
    const recording = (req: RunFunctionRequest): RunFunctionResponse => {
      requests.push(cloneDeep(req));
      return composeFrozen(req);
    };
    const frozen = runPipeline(cloneDeep(xr), cloneDeep(observed), required, recording);
    const plain = runPipeline(cloneDeep(xr), cloneDeep(observed), required);
    assert.deepEqual(frozen, plain);
    // Crossplane calls again once it has fetched what the function required
    // (a running example requires nothing: every cluster is composed).
    const first = requests[0];
    assert.ok(first, `${file}: the function was called`);
    const required1 = Object.keys(compose(first).requirements?.resources ?? {}).length;
    assert.ok(
      requests.length >= (required1 > 0 ? 2 : 1),
      `${file}: ${String(requests.length)} call(s), ${String(required1)} requirement(s)`,
    );
    for (const req of requests) assert.deepEqual(compose(req), compose(cloneDeep(req)));
  });
}

test("a running cluster whose address goes missing keeps its observed admin channel: read, never written", () => {
  // The path that once wrote metadataVersion into the observed RemoteKafka's
  // kafkaAdmin: addresses pending, every node current, metadata.version to raise.
  const { claim, observed, required } = loadExample("claim-nodeport.yaml");
  const external = new Map(observed.map((o) => [o.metadata.name, o]));
  const composed = render(claim, cloneDeep(observed), required)
    .slice(1)
    .map((m) => external.get(m.metadata.name) ?? m);
  const running = composed.map((o): KubeObject => {
    const name = o.metadata.name ?? "";
    if (o.kind === "RemoteStrimziPodSet") {
      const pods = (o["spec"] as { forProvider: { manifest: { spec: { pods: unknown[] } } } })
        .forProvider.manifest.spec.pods.length;
      return {
        ...o,
        metadata: { ...o.metadata, generation: 1 },
        status: { observedGeneration: 1, atProvider: { pods, readyPods: pods, currentPods: pods } },
      };
    }
    if (o.kind === "RemoteKafka")
      return {
        ...o,
        status: {
          conditions: [{ type: "Synced", status: "True", reason: "ReconcileSuccess" }],
          atProvider: { kafka: { reachable: true, features: { "metadata.version": 1 } } },
        },
      };
    // One node's Service loses its address: its cluster's admin channel is kept as observed.
    return name.endsWith("ingest-brokers-0-external") ? { ...o, status: { atProvider: {} } } : o;
  });
  const admins = (objs: KubeObject[]): { metadataVersion?: unknown; carrier?: boolean }[] =>
    objs
      .filter((o) => o.kind === "RemoteKafka")
      .map(
        (o) =>
          (
            o["spec"] as {
              forProvider: { kafkaAdmin?: { metadataVersion?: unknown; carrier?: boolean } };
            }
          ).forProvider.kafkaAdmin ?? {},
      );
  const out = render(claim, running, required, composeFrozen).slice(1);
  assert.ok(admins(running).every((a) => a.metadataVersion === undefined));
  // The admin channel asks for the raise (every node current), on a copy of
  // what was observed: its carrier does, the others carry no asks.
  assert.ok(admins(out).length > 0);
  for (const a of admins(out))
    assert.equal(Boolean(a.metadataVersion), a.carrier === true, "metadata.version to raise");
  assert.equal(admins(out).filter((a) => a.carrier === true).length, 1);
});

test("guard: a function that writes into its frozen request fails", () => {
  const { claim, observed, required } = loadExample("claim-3-clusters.yaml");
  const writes = (req: RunFunctionRequest): RunFunctionResponse => {
    const rsp = compose(req);
    const kafka = Object.values(req.observed?.resources ?? {}).find(
      (r) => (r.resource as KubeObject | undefined)?.kind === "RemoteKafka",
    );
    const admin = (kafka?.resource as KubeObject | undefined)?.["spec"] as
      { forProvider?: { kafkaAdmin?: Record<string, unknown> } } | undefined;
    // What compose.ts once did to the observed RemoteKafka's admin channel.
    if (admin?.forProvider?.kafkaAdmin) admin.forProvider.kafkaAdmin["metadataVersion"] = {};
    (req.observed?.composite?.resource as KubeObject)["status"] = {};
    return rsp;
  };
  const running = render3(claim, observed, required);
  assert.throws(
    () =>
      runPipeline(asComposite(cloneDeep(claim)), running, required, (req) =>
        writes(deepFreeze(req)),
      ),
    TypeError,
  );
  // The same function on an unfrozen request goes unnoticed: the freeze is what catches it.
  assert.doesNotThrow(() =>
    runPipeline(asComposite(cloneDeep(claim)), cloneDeep(running), required, writes),
  );
});

/** The example's managed resources as observed, RemoteKafka with its admin channel included. */
function render3(claim: KubeObject, observed: KubeObject[], required: KubeObject[]): KubeObject[] {
  const rsp = runPipeline(asComposite(cloneDeep(claim)), cloneDeep(observed), required);
  return observedFrom(rsp, () => ({}));
}
