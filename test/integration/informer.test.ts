/**
 * The informer against a real API server: list then watch, label selection,
 * and recovery when the API server goes away and comes back.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { Informer, type InformerEvent } from "../../controller/kube/informer.ts";
import { startTestBed, type TestBed } from "../../devbed/clusters.ts";
import { teardown } from "../teardown.ts";
import { eventually } from "../../devbed/eventually.ts";

let bed: TestBed;
let client: DynamicClient;
const log = pino({ level: "silent" });

/** Until `check` holds (the shared eventually, for a boolean). */
async function until(what: string, check: () => boolean, seconds = 30): Promise<void> {
  await eventually(what, () => (check() ? true : undefined), seconds, 50);
}

function cm(
  name: string,
  labels: Record<string, string>,
  data: Record<string, string> = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: "inf", labels },
    data,
  };
}

before(async () => {
  bed = await startTestBed({ names: ["remote"] });
  client = new DynamicClient(bed.cluster("remote").kubeConfig(), { timeoutMs: 5000 });
  await client.apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "inf" } },
    { fieldManager: "test" },
  );
});

after(async () => {
  await teardown(
    () => client.close(),
    () => bed.close(),
  );
});

test(
  "lists, then sees adds, updates and deletes of the selected objects only",
  { timeout: 60_000 },
  async () => {
    await client.apply(cm("before", { app: "ours" }), { fieldManager: "test" });
    await client.apply(cm("other", { app: "theirs" }), { fieldManager: "test" });
    const events: string[] = [];
    const inf = new Informer(
      client,
      { apiVersion: "v1", kind: "ConfigMap", namespace: "inf", labelSelector: "app=ours" },
      log,
    );
    inf.on((e: InformerEvent, o) => events.push(`${e} ${o.metadata.name ?? ""}`));
    await inf.start();
    assert.deepEqual(events, ["add before"]);
    assert.equal(inf.get("inf/before")?.kind, "ConfigMap");

    await client.apply(cm("after", { app: "ours" }), { fieldManager: "test" });
    await client.apply(cm("before", { app: "ours" }, { k: "v" }), { fieldManager: "test" });
    await client.apply(cm("other", { app: "theirs" }, { k: "v" }), { fieldManager: "test" });
    await client.delete("v1", "ConfigMap", "after", "inf");
    await until("all events seen", () => events.length >= 4);
    assert.deepEqual(events, ["add before", "add after", "update before", "delete after"]);
    assert.deepEqual(
      inf.list().map((o) => o.metadata.name),
      ["before"],
    );
    assert.equal(
      (inf.get("inf/before") as KubeObject & { data?: Record<string, string> }).data?.["k"],
      "v",
    );
    await inf.stop();
  },
);

test(
  "metadata only: Secrets' names, labels and versions, never their values",
  { timeout: 60_000 },
  async () => {
    const secret = (value: string): KubeObject => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "watched", namespace: "inf", labels: { app: "ours" } },
      data: { password: Buffer.from(value).toString("base64") },
    });
    await client.apply(secret("first"), { fieldManager: "test" });
    const seen: KubeObject[] = [];
    const inf = new Informer(
      client,
      {
        apiVersion: "v1",
        kind: "Secret",
        namespace: "inf",
        labelSelector: "app=ours",
        metadataOnly: true,
      },
      log,
    );
    inf.on((_e, o) => seen.push(o));
    await inf.start();
    const written = await client.apply(secret("second"), { fieldManager: "test" });
    await until("the update is seen", () => seen.length >= 2);
    await inf.stop();
    for (const o of seen) {
      assert.equal(o.kind, "Secret", "under the informer's kind, not PartialObjectMetadata");
      assert.equal(o.apiVersion, "v1");
      assert.equal(o.metadata.labels?.["app"], "ours");
      assert.equal("data" in o, false, `no data: ${JSON.stringify(o)}`);
      for (const v of ["first", "second"])
        assert.equal(
          JSON.stringify(o).includes(Buffer.from(v).toString("base64")),
          false,
          "no value",
        );
    }
    assert.equal(seen.at(-1)?.metadata.resourceVersion, written.metadata.resourceVersion);
  },
);

test(
  "survives the API server going away: reports it, then catches up",
  { timeout: 120_000 },
  async () => {
    const inf = new Informer(
      client,
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace: "inf",
        labelSelector: "app=outage",
        minBackoffMs: 200,
        maxBackoffMs: 1000,
      },
      log,
    );
    const events: string[] = [];
    inf.on((e, o) => events.push(`${e} ${o.metadata.name ?? ""}`));
    await client.apply(cm("x", { app: "outage" }), { fieldManager: "test" });
    await client.apply(cm("y", { app: "outage" }), { fieldManager: "test" });
    await inf.start();
    assert.equal(inf.list().length, 2);

    const remote = bed.cluster("remote");
    await remote.stop();
    await until(
      "informer reports the outage",
      () => !inf.health().connected && inf.health().lastError !== undefined,
    );
    await remote.start();
    // Changes right after the return, while the informer may still be reconnecting.
    await client.delete("v1", "ConfigMap", "y", "inf");
    await client.apply(cm("z", { app: "outage" }), { fieldManager: "test" });
    await until("cache caught up", () => {
      const names = inf
        .list()
        .map((o) => o.metadata.name)
        .sort();
      return names.join(",") === "x,z";
    });
    await until("connected again", () => inf.health().connected);
    assert.ok(events.includes("delete y"), events.join(", "));
    assert.ok(events.includes("add z"), events.join(", "));
    await inf.stop();
  },
);

test(
  "a handler that throws gets the same event again until it takes it; nothing is dropped",
  { timeout: 60_000 },
  async () => {
    const inf = new Informer(
      client,
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        namespace: "inf",
        labelSelector: "app=flaky",
        minBackoffMs: 100,
        maxBackoffMs: 400,
      },
      log,
    );
    let failures = 2;
    const taken: string[] = [];
    inf.on((e, o) => {
      if (o.metadata.name === "flaky" && failures > 0) {
        failures--;
        throw new Error("the handler's queue is full");
      }
      taken.push(`${e} ${o.metadata.name ?? ""}`);
    });
    await inf.start();
    await client.apply(cm("flaky", { app: "flaky" }), { fieldManager: "test" });
    await until("the event delivered on the third try", () => taken.includes("add flaky"));
    assert.equal(failures, 0);
    assert.match(inf.health().lastHandlerError ?? "", /add of inf\/flaky: .*queue is full/);
    assert.equal(inf.health().undelivered, 0);
    await inf.stop();
  },
);
