/**
 * One table of what a claim's life must look like, run against the
 * standalone engine (lifecycle-standalone.test.ts) and against real
 * Crossplane core (crossplane-core.test.ts), so the two cannot drift apart.
 * Where the two paths must differ, the step says so and why.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import {
  KubeApiError,
  type DynamicClient,
  type KubeObject,
} from "../../controller/kube/dynamic.ts";
import { claimStatus } from "../../controller/cli/status.ts";
import { crankBinary } from "../../devbed/build.ts";
import { always, eventually } from "../../devbed/eventually.ts";
import { scaleEastAddSouth } from "../../devbed/prepare-clusters.ts";
import { run } from "../../devbed/run.ts";

export const g = "stretchkafka.dev/v1alpha1";
const remoteGroup = "remote.stretchkafka.dev/v1alpha1";
const claimFile = new URL("../../examples/claim-3-clusters.yaml", import.meta.url);

export interface LifecycleBed {
  path: "standalone" | "crossplane";
  central: DynamicClient;
  /** Remote clusters by ProviderConfig name: east, west, north (the claim's) and south. */
  remotes: Map<string, DynamicClient>;
  /** An admin kubeconfig of the central cluster, for the crossplane CLI. */
  kubeconfigPath: string;
  /** Where the provider keeps its CAs. */
  providerNamespace: string;
  /**
   * The Composition every claim names, when it is not the default one: the
   * one asking for a managed resource per remote object, the shape of
   * composites created before sets were shipped (ADR 0026), where the
   * default's claims compose a RemoteObjectSet per remote cluster. Steps
   * that look at managed resources say which they expect.
   */
  perObject?: { composition: string };
  /**
   * Brings the composites to where one that has been quiet for long is
   * before the hand-over: under Crossplane at its defaults a per-object
   * composite opens its XR circuit breaker while it is created, and one
   * quiet for days has it closed (Crossplane core restarted: see
   * crossplane-core.test.ts).
   */
  quiet?: () => Promise<void>;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Claim extends KubeObject {
  spec: Record<string, unknown> & {
    resourceRef?: { name: string };
    compositionRef?: { name: string };
    clusters: {
      name: string;
      providerConfigRef: { name: string };
      nodePools: Record<string, unknown>[];
    }[];
  };
  status?: Record<string, unknown> & {
    conditions?: Condition[];
    connectionDetails?: { lastPublishedTime?: string };
  };
}

const cond = (o: Claim | undefined, type: string): Condition | undefined =>
  o?.status?.conditions?.find((c) => c.type === type);

/** The claim of the example, edited, naming `composition` if given. */
function claimOf(name: string, composition: string | undefined, edit: (c: Claim) => void): Claim {
  const c = parse(readFileSync(claimFile, "utf8")) as Claim;
  c.metadata.name = name;
  if (composition) c.spec.compositionRef = { name: composition };
  edit(c);
  return c;
}

/** Registers the steps, in order, as tests; each leaves the claim Ready for the next. */
export function claimLifecycle(
  label: string,
  path: LifecycleBed["path"],
  bed: () => LifecycleBed,
  /** How the bed's claims compose their remote objects (its `perObject`), known before it starts. */
  shape: "PerCluster" | "PerObject" = "PerCluster",
  /**
   * "whole": every step. "created, then handed over": the first step and the
   * hand-over only (a per-object composite under Crossplane at its defaults,
   * where the rest of its life is the engine's per-object run's to show).
   */
  steps: "whole" | "created, then handed over" = "whole",
): void {
  const ns = "team-a";
  const composition = (): string | undefined => bed().perObject?.composition;
  const claim = (name: string, edit: (c: Claim) => void = () => {}): Claim =>
    claimOf(name, composition(), edit);
  /** What a claim composes: a set per cluster, or these kinds per object. */
  const composedKinds = (): string[] =>
    bed().perObject
      ? [
          "RemoteConfigMap",
          "RemotePersistentVolumeClaim",
          "RemoteSecret",
          "RemoteStrimziPodSet",
          "RemoteKafka",
        ]
      : ["RemoteObjectSet"];
  const find = (name = "orders"): Promise<Claim | undefined> =>
    bed().central.find<Claim>(g, "StretchKafka", name, ns);
  const apply = async (c: Claim): Promise<void> => {
    await bed().central.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
      {
        fieldManager: "app-team",
      },
    );
    await bed().central.apply(c, { fieldManager: "app-team" });
  };
  /**
   * The claim Ready and Synced; with `settledMs`, and then unchanged for that
   * long: under Crossplane a composite's status apply can put back, for a
   * moment, conditions of an earlier version (crossplane/crossplane#7062,
   * ADR 0026), so one Ready sample during a convergence may be an old one.
   */
  const ready = (name = "orders", seconds = 180, settledMs = 0): Promise<Claim> =>
    eventually(
      `claim ${name} is Ready and Synced${settledMs > 0 ? `, unchanged for ${String(settledMs)} ms` : ""}`,
      async () => {
        const c = await find(name);
        if (cond(c, "Ready")?.status !== "True" || cond(c, "Synced")?.status !== "True")
          return undefined;
        if (settledMs === 0) return c;
        await sleep(settledMs);
        const again = await find(name);
        return again?.metadata.resourceVersion === c?.metadata.resourceVersion ? again : undefined;
      },
      seconds,
      250,
    );
  /**
   * The function's refusal, where each path puts it. Both: the composite is
   * not Synced, with the function's message. Differs: the standalone engine
   * also makes the claim not Synced with that message, because app teams
   * often cannot read cluster-scoped composites; Crossplane keeps the claim
   * Synced (its own binding worked) and reports on the composite and its events.
   */
  const refusal = async (name: string, pattern: RegExp): Promise<string> =>
    eventually(`claim ${name}'s composite is refused: ${pattern.source}`, async () => {
      const c = await find(name);
      const xrName = c?.spec.resourceRef?.name;
      if (!xrName) return undefined;
      const xr = await bed().central.find<Claim>(g, "XStretchKafka", xrName);
      const s = cond(xr, "Synced");
      if (s?.status !== "False" || !pattern.test(s.message ?? "")) return undefined;
      const claimSynced = cond(c, "Synced");
      if (bed().path === "standalone") {
        if (claimSynced?.status !== "False" || !pattern.test(claimSynced.message ?? ""))
          return undefined;
      } else assert.equal(claimSynced?.status, "True");
      return s.message ?? "";
    });

  /** Every pod of the Kafka cluster by name, with its uid (a restart changes it). */
  const pods = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const r of bed().remotes.values())
      for (const p of (await r.list("v1", "Pod", { namespace: "kafka" })).items)
        if (p.metadata.name?.startsWith("orders-"))
          out.set(p.metadata.name, (p.metadata as { uid?: string }).uid ?? "");
    return out;
  };
  const pvcs = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const [cluster, r] of bed().remotes)
      for (const p of (await r.list("v1", "PersistentVolumeClaim", { namespace: "kafka" })).items)
        out.set(`${cluster}/${p.metadata.name ?? ""}`, (p.metadata as { uid?: string }).uid ?? "");
    return out;
  };

  describe(`a claim's life, ${label}`, () => {
    test(
      "Ready with the function's status, Crossplane's references and the full connection Secret",
      { timeout: 240_000 },
      async () => {
        await apply(claim("orders"));
        const c = await ready();
        const clusters = c.status?.["clusters"] as {
          name: string;
          ready: boolean;
          pods: { ready: number; total: number };
        }[];
        assert.deepEqual(
          clusters.map((x) => [x.name, x.ready, x.pods.ready, x.pods.total]),
          [
            ["east", true, 3, 3],
            ["west", true, 3, 3],
            ["north", true, 3, 3],
          ],
        );
        const xrName = c.spec.resourceRef?.name ?? "";
        const xr = await bed().central.get<Claim>(g, "XStretchKafka", xrName);
        // What Crossplane writes on both, and the engine must too.
        const compositionName = composition() ?? "xstretchkafkas.stretchkafka.dev";
        assert.equal(c.spec.compositionRef?.name, compositionName);
        assert.equal(xr.spec.compositionRef?.name, compositionName);
        assert.equal(
          (xr.status as { remoteObjects?: string } | undefined)?.remoteObjects,
          bed().perObject ? "PerObject" : "PerCluster",
        );
        // Differs: Crossplane also names the CompositionRevision it runs; the
        // standalone engine runs the Composition itself and keeps no revisions.
        if (bed().path === "crossplane")
          assert.ok(
            (xr.spec as { compositionRevisionRef?: { name: string } }).compositionRevisionRef?.name,
          );
        const labels = xr.metadata.labels ?? {};
        assert.equal(labels["crossplane.io/composite"], xrName);
        assert.equal(labels["crossplane.io/claim-name"], "orders");

        // The events Crossplane records, on both paths: binding, selection,
        // and the function's results (on the composite with the step named,
        // on the claim as the function targets both).
        const events = async (
          namespace: string,
          kind: string,
          name: string,
        ): Promise<{ type: string; reason: string; message: string }[]> =>
          (
            await bed().central.list<
              KubeObject & {
                type: string;
                reason: string;
                message: string;
                involvedObject: { kind: string; name: string };
              }
            >("v1", "Event", { namespace })
          ).items
            .filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name)
            .map(({ type, reason, message }) => ({ type, reason, message }));
        const summary = bed().perObject
          ? /^\d+ nodes \(3 controllers, 6 brokers\) in 3 clusters; \d+ managed resources$/
          : /^\d+ nodes \(3 controllers, 6 brokers\) in 3 clusters; 3 managed resources \(\d+ remote objects\)$/;
        let seen = "";
        await eventually("the claim's and the composite's events", async () => {
          const onClaim = await events(ns, "StretchKafka", "orders");
          const onXr = await events("default", "XStretchKafka", xrName);
          // What the failure message shows, if they never all come.
          seen = JSON.stringify({ onClaim, onXr });
          const has = (
            list: { type: string; reason: string; message: string }[],
            reason: string,
            message: RegExp,
          ): boolean =>
            list.some((e) => e.type === "Normal" && e.reason === reason && message.test(e.message));
          return has(onClaim, "BindCompositeResource", /^Successfully bound composite resource$/) &&
            has(onClaim, "ComposeResources", summary) &&
            // Selected only where the claim names none.
            (composition() !== undefined ||
              has(
                onXr,
                "SelectComposition",
                /^Successfully selected composition: xstretchkafkas\.stretchkafka\.dev$/,
              )) &&
            has(
              onXr,
              "ComposeResources",
              new RegExp(`^Pipeline step "stretch-kafka": ${summary.source.slice(1)}`),
            )
            ? true
            : undefined;
        }).catch((err: unknown) => {
          throw new Error(`${String(err)}; events seen: ${seen}`);
        });

        const secret = await eventually("the connection Secret holds every key", async () => {
          const s = await bed().central.find<KubeObject & { data?: Record<string, string> }>(
            "v1",
            "Secret",
            "orders-kafka",
            ns,
          );
          return Object.keys(s?.data ?? {}).length >= 4 ? s : undefined;
        });
        assert.deepEqual(Object.keys(secret.data ?? {}).sort(), [
          "bootstrap.servers",
          "ca.crt",
          "clusters",
          "producer.properties",
        ]);
        const text = (k: string): string =>
          Buffer.from(secret.data?.[k] ?? "", "base64").toString("utf8");
        assert.match(text("producer.properties"), /^batch\.size=\d+$/m);
        assert.match(text("ca.crt"), /^-----BEGIN CERTIFICATE-----/);
        const published = await eventually("the claim says when it published", async () => {
          const t = (await find())?.status?.connectionDetails?.lastPublishedTime;
          return t ? t : undefined;
        });
        assert.ok(!Number.isNaN(Date.parse(published)), published);
      },
    );

    // The middle of the life: every step but the first and the hand-over.
    if (steps === "whole") {
      test(
        "crossplane beta trace (the real CLI) shows the tree",
        { timeout: 120_000 },
        async () => {
          const crank = (await crankBinary()).path;
          const { stdout } = await run(
            crank,
            ["beta", "trace", "stretchkafka.stretchkafka.dev", "orders", "-n", ns, "-o", "json"],
            { env: { ...process.env, KUBECONFIG: bed().kubeconfigPath } },
          );
          interface Node {
            object: KubeObject;
            children?: Node[];
          }
          const tree = JSON.parse(stdout) as Node;
          assert.equal(tree.object.kind, "StretchKafka");
          const xr = tree.children?.[0];
          assert.ok(xr);
          assert.equal(xr.object.kind, "XStretchKafka");
          const kinds = new Set((xr.children ?? []).map((n) => n.object.kind));
          if (bed().perObject)
            for (const k of [
              "RemoteConfigMap",
              "RemoteStrimziPodSet",
              "RemoteKafka",
              "RemoteSecret",
            ])
              assert.ok(kinds.has(k), `trace shows ${k}`);
          else assert.deepEqual([...kinds], ["RemoteObjectSet"]);
          const refs = (
            await bed().central.get<KubeObject & { spec: { resourceRefs: unknown[] } }>(
              g,
              "XStretchKafka",
              xr.object.metadata.name ?? "",
            )
          ).spec.resourceRefs;
          assert.equal(xr.children?.length, refs.length, "every composed resource is in the tree");
        },
      );

      test(
        "stretch-kafka status shows each cluster's pools with their pods",
        { timeout: 60_000 },
        async () => {
          let text = "";
          await eventually("every pool's pods are shown ready", async () => {
            text = await claimStatus(bed().central, "orders", ns);
            const pools = [...text.matchAll(/(controllers|brokers)\s+(\d+)\/(\d+) pods ready/g)];
            return pools.length === 6 && pools.every((m) => m[2] === m[3] && m[2] !== "0")
              ? true
              : undefined;
          }).catch((err: unknown) => {
            throw new Error(`${String(err)}; stretch-kafka status printed:\n${text}`);
          });
          for (const cluster of ["east", "west", "north"])
            assert.match(
              text,
              new RegExp(
                `${cluster} .*\\n.*brokers\\s+2/2 pods ready.*\\n.*controllers\\s+1/1 pods ready`,
              ),
            );
        },
      );

      test(
        "scaling a pool and adding a cluster converge; unchanged nodes keep running",
        { timeout: 300_000 },
        async () => {
          const before = await pods();
          await apply(
            claim("orders", (c) => {
              scaleEastAddSouth(c.spec);
            }),
          );
          await eventually(
            "11 pods, and the claim Ready with east 4/4 and south 1/1",
            async () => {
              if ((await pods()).size !== 11) return undefined;
              const c = await find();
              if (cond(c, "Ready")?.status !== "True") return undefined;
              const clusters = c?.status?.["clusters"] as
                | { name: string; ready: boolean; pods: { ready: number; total: number } }[]
                | undefined;
              const of = (n: string): string => {
                const x = clusters?.find((y) => y.name === n);
                return x
                  ? `${String(x.ready)} ${String(x.pods.ready)}/${String(x.pods.total)}`
                  : "";
              };
              return of("east") === "true 4/4" && of("south") === "true 1/1" ? true : undefined;
            },
            240,
            500,
          );
          const after = await pods();
          for (const [name, uid] of before)
            if (!name.includes("brokers"))
              assert.equal(after.get(name), uid, `${name} kept running`);
        },
      );

      test(
        "a hand edit of a composed managed resource is put back",
        { timeout: 120_000 },
        async () => {
          const xrName = (await find())?.spec.resourceRef?.name ?? "";
          type Manifest = KubeObject & { data?: Record<string, string> };
          type Mr = KubeObject & { spec: { forProvider: { manifest: Manifest } } };
          type Entry = { name: string; kind: string; forProvider: { manifest: Manifest } };
          type Set = KubeObject & { spec: { forProvider: { objects: Entry[] } } };
          const isNode = (name: string | undefined): boolean =>
            /(^|-)cm-orders-brokers-/.test(name ?? "");
          // A node's ConfigMap: its managed resource, or its entry in its cluster's set.
          const edited = !bed().perObject
            ? await (async () => {
                const sets = await bed().central.list<Set>(remoteGroup, "RemoteObjectSet", {
                  labelSelector: `crossplane.io/composite=${xrName}`,
                });
                for (const set of sets.items) {
                  const entry = set.spec.forProvider.objects.find((e) => isNode(e.name));
                  if (entry)
                    return {
                      manifest: entry.forProvider.manifest,
                      edit: (data: Record<string, string>): KubeObject => ({
                        apiVersion: remoteGroup,
                        kind: "RemoteObjectSet",
                        metadata: { name: set.metadata.name ?? "" },
                        spec: {
                          forProvider: {
                            objects: [
                              {
                                ...entry,
                                forProvider: {
                                  ...entry.forProvider,
                                  manifest: { ...entry.forProvider.manifest, data },
                                },
                              },
                            ],
                          },
                        },
                      }),
                      now: async (): Promise<Manifest | undefined> =>
                        (
                          await bed().central.get<Set>(
                            remoteGroup,
                            "RemoteObjectSet",
                            set.metadata.name ?? "",
                          )
                        ).spec.forProvider.objects.find((e) => e.name === entry.name)?.forProvider
                          .manifest,
                    };
                }
                return undefined;
              })()
            : await (async () => {
                const [mr] = (
                  await bed().central.list<Mr>(remoteGroup, "RemoteConfigMap", {
                    labelSelector: `crossplane.io/composite=${xrName}`,
                  })
                ).items.filter((m) => isNode(m.metadata.name));
                if (!mr) return undefined;
                const name = mr.metadata.name ?? "";
                return {
                  manifest: mr.spec.forProvider.manifest,
                  edit: (data: Record<string, string>): KubeObject => ({
                    apiVersion: remoteGroup,
                    kind: "RemoteConfigMap",
                    metadata: { name },
                    spec: { forProvider: { manifest: { ...mr.spec.forProvider.manifest, data } } },
                  }),
                  now: async (): Promise<Manifest | undefined> =>
                    (await bed().central.get<Mr>(remoteGroup, "RemoteConfigMap", name)).spec
                      .forProvider.manifest,
                };
              })();
          assert.ok(edited, "a node's ConfigMap is composed");
          const manifest = edited.manifest;
          await bed().central.apply(edited.edit({ "server.config": "hand-edited" }), {
            fieldManager: "someone-by-hand",
            force: true,
          });
          await eventually(
            "the composition puts the manifest back",
            async () => {
              const data = (await edited.now())?.data ?? {};
              return data["server.config"] && data["server.config"] !== "hand-edited"
                ? true
                : undefined;
            },
            90,
            250,
          );
          // Put back means put back everywhere: the provider may have written the
          // hand edit to the remote cluster before the composer restored it, and
          // the claim reports Ready again only when what runs is what is composed.
          const target = manifest.metadata as { name: string; namespace: string };
          await eventually(
            "the remote ConfigMap holds the composed configuration again",
            async () => {
              for (const r of bed().remotes.values()) {
                const cm = await r.find<KubeObject & { data?: Record<string, string> }>(
                  "v1",
                  "ConfigMap",
                  target.name,
                  target.namespace,
                );
                if (cm)
                  return cm.data?.["server.config"] === manifest.data?.["server.config"]
                    ? true
                    : undefined;
              }
              return undefined;
            },
            90,
            250,
          );
          // Settled: the next test takes this status as the last good one.
          await ready("orders", 180, 1500);
        },
      );

      test(
        "a bad edit is refused with the function's message, and nothing running changes",
        { timeout: 180_000 },
        async () => {
          const good = (await find()) as Claim;
          const before = await pods();
          await apply(
            claim("orders", (c) => {
              c.spec.clusters = good.spec.clusters;
              (c.spec["kafka"] as { config: Record<string, unknown> }).config["node.id"] = 7;
            }),
          );
          assert.match(await refusal("orders", /node\.id/), /cannot be overridden/);
          assert.equal(cond(await find(), "Ready")?.status, "True", "the last good status stays");
          await apply(claim("orders", (c) => (c.spec.clusters = good.spec.clusters)));
          await ready();
          assert.deepEqual(await pods(), before, "no pod was restarted or removed");
        },
      );

      test(
        "a claim naming a ProviderConfig that does not exist is refused, with nothing composed",
        { timeout: 180_000 },
        async () => {
          await apply(
            claim("ghost", (c) => {
              for (const cl of c.spec.clusters) cl.providerConfigRef.name = `nowhere-${cl.name}`;
            }),
          );
          await refusal("ghost", /ProviderConfig "nowhere-east" does not exist/);
          for (const kind of composedKinds()) {
            const composed = await bed().central.list(remoteGroup, kind, {
              labelSelector: "crossplane.io/claim-name=ghost",
            });
            assert.equal(composed.items.length, 0, `no ${kind} composed for it`);
          }
          await bed().central.delete(g, "StretchKafka", "ghost", ns);
          await eventually("it is gone", async () => ((await find("ghost")) ? undefined : true));
        },
      );

      // Differs: Crossplane's claim reconciler publishes the Secret again only
      // when the claim or its composite next changes (it neither polls nor
      // watches the Secret); the standalone engine applies it again after its
      // resync (3 s in this bed), so only the engine has this step.
      if (path === "standalone")
        test("a connection Secret deleted by hand comes back", { timeout: 120_000 }, async () => {
          const before = await bed().central.get<KubeObject & { data?: Record<string, string> }>(
            "v1",
            "Secret",
            "orders-kafka",
            ns,
          );
          await bed().central.delete("v1", "Secret", "orders-kafka", ns);
          const back = await eventually(
            "the connection Secret is back",
            async () => {
              const s = await bed().central.find<KubeObject & { data?: Record<string, string> }>(
                "v1",
                "Secret",
                "orders-kafka",
                ns,
              );
              return s && s.metadata.uid !== before.metadata.uid ? s : undefined;
            },
            60,
            250,
          );
          assert.deepEqual(back.data, before.data, "with the same data");
        });

      test(
        "an administrator deleting a cluster's anchor by hand is refused, and no pod goes",
        { timeout: 60_000 },
        async () => {
          const before = await pods();
          const east = bed().remotes.get("east") as DynamicClient;
          const err = await east.delete("v1", "ConfigMap", "orders-stretch-anchor", "kafka").then(
            () => undefined,
            (e: unknown) => e,
          );
          assert.ok(err instanceof KubeApiError, "the delete is refused");
          assert.equal(err.code, 403);
          assert.match(err.message, /is the anchor of a stretch-kafka Kafka cluster/);
          assert.match(err.message, /Delete the StretchKafka claim instead/);
          // The anchor is still there, so the garbage collector has nothing to cascade from.
          assert.ok(await east.find("v1", "ConfigMap", "orders-stretch-anchor", "kafka"));
          assert.deepEqual(await pods(), before, "every pod still runs");
        },
      );

      test(
        "deleting and re-creating the claim at once: the new composite waits for the old one's managed resources, then is Ready on the same data volumes; no CA left behind",
        { timeout: 420_000 },
        async () => {
          const first = (await find()) as Claim;
          const xrName = first.spec.resourceRef?.name ?? "";
          const clusterId = first.status?.["clusterId"];
          const volumes = await pvcs();
          assert.ok(volumes.size >= 9, "every node has a data volume");
          const spec = first.spec.clusters;
          await bed().central.delete(g, "StretchKafka", "orders", ns);
          await eventually(
            "the claim is gone",
            async () => ((await find()) ? undefined : true),
            120,
            100,
          );
          // At once, as a user would: the old composite's managed resources are
          // still being deleted (Crossplane lets a composite go before them).
          await apply(claim("orders", (c) => (c.spec.clusters = spec)));
          // The claim's managed resources by composite, one list per kind (each
          // list is one snapshot of that kind); a kind two composites manage
          // resources of at once is the violation.
          const byComposite = async (): Promise<{ old: number; mine: number; both?: string }> => {
            let old = 0;
            let mine = 0;
            for (const kind of composedKinds()) {
              const items = await bed().central.list(remoteGroup, kind, {
                labelSelector: `crossplane.io/claim-name=orders,crossplane.io/claim-namespace=${ns}`,
              });
              const owners = new Set(
                items.items.map((o) => o.metadata.labels?.["crossplane.io/composite"] ?? ""),
              );
              if (owners.size > 1) return { old, mine, both: `${kind}: ${[...owners].join(", ")}` };
              if (owners.has(xrName)) old += items.items.length;
              else mine += items.items.length;
            }
            return { old, mine };
          };
          assert.ok(
            (await byComposite()).old > 0,
            "the old composite's managed resources are still there when the claim is created again",
          );
          // On every sample until Ready: never both composites' resources, and
          // never Ready while the old one's are left (the claim read first).
          let waited: string | undefined;
          let goneAt: number | undefined;
          let composedAt: number | undefined;
          const apart = always(
            "the claim's two composites never manage resources at once",
            async () => {
              const c = await find();
              const degraded = cond(c, "Degraded");
              if (degraded?.reason === "PredecessorDeleting") waited ??= degraded.message;
              const { old, mine, both } = await byComposite();
              if (both) return `both manage resources of one kind (${both})`;
              if (old === 0) goneAt ??= Date.now();
              if (mine > 0) composedAt ??= Date.now();
              return cond(c, "Ready")?.status === "True" && old > 0
                ? `the claim is Ready while ${old} of the old composite's managed resources are left`
                : undefined;
            },
            { intervalMs: 250 },
          );
          const again = await apart.during(ready("orders", 360));
          await apart.stop();
          // Brought back by the watch of what it required (Crossplane's
          // dependency tracker, the engine's requiredBy), not by the 60 s TTL
          // of its waiting answer.
          assert.ok(goneAt !== undefined && composedAt !== undefined, "both moments were sampled");
          assert.ok(
            composedAt - goneAt < 40_000,
            `composed ${String(Math.round((composedAt - goneAt) / 1000))} s after the old composite's resources were gone`,
          );
          assert.notEqual(again.spec.resourceRef?.name, xrName, "a composite of its own");
          assert.equal(again.status?.["clusterId"], clusterId, "the same Kafka cluster id");
          assert.deepEqual(await pvcs(), volumes, "the same volumes, adopted again");
          if (waited)
            assert.match(
              waited,
              new RegExp(`managed resources of ${xrName}, an earlier composite of this claim`),
            );
          await eventually(
            "the deleted composite's CAs are removed with it",
            async () => {
              const cas = await bed().central.list("v1", "Secret", {
                namespace: bed().providerNamespace,
                labelSelector: `stretchkafka.dev/authority=${xrName}`,
              });
              return cas.items.length === 0 ? true : undefined;
            },
            60,
            500,
          );
        },
      );
    }

    // Only a composite recorded per object has something to hand over.
    if (shape === "PerObject")
      test(
        "handed over to one RemoteObjectSet per cluster once its claim names the shipped Composition: no remote object replaced, no pod restarted, the same certificates",
        { timeout: 300_000 },
        async () => {
          /** Every remote object the claim's Kafka runs on, by cluster, kind and name: uid and data. */
          const objects = async (): Promise<Map<string, string>> => {
            const out = new Map<string, string>();
            for (const [cluster, r] of bed().remotes)
              for (const kind of ["ConfigMap", "Secret", "PersistentVolumeClaim", "Service", "Pod"])
                for (const o of (
                  await r.list<KubeObject & { data?: unknown }>("v1", kind, { namespace: "kafka" })
                ).items)
                  if (o.metadata.name?.startsWith("orders-"))
                    out.set(
                      `${cluster}/${kind}/${o.metadata.name}`,
                      `${(o.metadata as { uid?: string }).uid ?? ""} ${JSON.stringify(o.data ?? null)}`,
                    );
            return out;
          };
          // The claim created again just before: a pod of the old composite's
          // podset lives until the garbage collector deletes it (its owner is
          // gone), and is then created again under the new podset. Every pod
          // under the podset it runs for, first.
          await eventually(
            "every Kafka pod is owned by its podset as it is now",
            async () => {
              for (const r of bed().remotes.values())
                for (const p of (await r.list("v1", "Pod", { namespace: "kafka" })).items) {
                  if (!p.metadata.name?.startsWith("orders-")) continue;
                  const o = p.metadata.ownerReferences?.find((x) => x.kind === "StrimziPodSet");
                  const ps = o && (await r.find(o.apiVersion, o.kind, o.name, "kafka"));
                  if (!ps || ps.metadata.uid !== o.uid) return undefined;
                }
              return true;
            },
            120,
            500,
          );
          const first = await ready();
          const xrName = first.spec.resourceRef?.name ?? "";
          const before = await objects();
          assert.ok(
            [...before.keys()].filter((k) => k.includes("/Pod/")).length >= 9,
            "every Kafka pod is counted",
          );
          const perObjectCount = async (): Promise<number> => {
            let n = 0;
            for (const kind of composedKinds())
              n += (
                await bed().central.list(remoteGroup, kind, {
                  labelSelector: `crossplane.io/composite=${xrName}`,
                })
              ).items.length;
            return n;
          };
          assert.ok((await perObjectCount()) > 0);
          /** How many of the composite's own managed resources have deletionPolicy Orphan. */
          const orphaned = async (): Promise<number> => {
            let n = 0;
            for (const kind of composedKinds())
              n += (
                await bed().central.list<Claim>(remoteGroup, kind, {
                  labelSelector: `crossplane.io/composite=${xrName}`,
                })
              ).items.filter(
                (o) => (o.spec as { deletionPolicy?: string }).deletionPolicy === "Orphan",
              ).length;
            return n;
          };
          await bed().quiet?.();
          // The platform team moves the claim to the shipped Composition, which asks for sets.
          await bed().central.mergePatch(g, "StretchKafka", "orders", ns, {
            spec: { compositionRef: { name: "xstretchkafkas.stretchkafka.dev" } },
          });
          let seen = "";
          await eventually(
            "the composite is composed as sets, each Ready, its managed resources of its own gone",
            async () => {
              const xr = await bed().central.get<Claim>(g, "XStretchKafka", xrName);
              const shape = (xr.status as { remoteObjects?: string } | undefined)?.remoteObjects;
              const sets = await bed().central.list<Claim>(remoteGroup, "RemoteObjectSet", {
                labelSelector: `crossplane.io/composite=${xrName}`,
              });
              const own = await perObjectCount();
              seen = JSON.stringify({
                compositionRef: xr.spec.compositionRef?.name,
                shape,
                own,
                sets: sets.items.map((x) => [x.metadata.name, cond(x, "Synced")?.message]),
                conditions: (xr.status?.conditions ?? []).map((c) => [c.type, c.status, c.message]),
                orphan: own > 0 ? await orphaned() : undefined,
                events: (
                  await bed().central.list<
                    KubeObject & {
                      message: string;
                      count?: number;
                      involvedObject: { name: string };
                    }
                  >("v1", "Event", { namespace: "default" })
                ).items
                  .filter((e) => e.involvedObject.name === xrName)
                  .slice(-6)
                  .map((e) => `${String(e.count ?? 1)}x ${e.message.slice(0, 160)}`),
              });
              // Each set Ready and Synced by its own status: the claim's Ready
              // may still be the one of before until the composite's reaches it.
              return shape === "PerCluster" &&
                sets.items.length === first.spec.clusters.length &&
                sets.items.every(
                  (x) =>
                    cond(x, "Ready")?.status === "True" && cond(x, "Synced")?.status === "True",
                ) &&
                own === 0
                ? true
                : undefined;
            },
            240,
            500,
          ).catch((err: unknown) => {
            throw new Error(`${(err as Error).message}; last seen: ${seen}`, { cause: err });
          });
          // Ready comes from the sets just seen Ready; if not, what the claim and the composite say.
          const after = await ready("orders", 240).catch(async (err: unknown) => {
            const conds = async (kind: string, name: string, namespace?: string): Promise<string> =>
              JSON.stringify(
                (await bed().central.find<Claim>(g, kind, name, namespace))?.status?.["conditions"],
              );
            throw new Error(
              `${(err as Error).message}; claim ${await conds("StretchKafka", "orders", ns)}; composite ${await conds("XStretchKafka", xrName)}`,
              { cause: err },
            );
          });
          assert.equal(after.spec.resourceRef?.name, xrName, "the same composite");
          assert.equal(after.status?.["clusterId"], first.status?.["clusterId"]);
          const now = await objects();
          for (const [k, v] of before) assert.equal(now.get(k), v, `${k} unchanged`);
          assert.deepEqual([...now.keys()].sort(), [...before.keys()].sort(), "nothing added");
          // Every set's entries took their objects up: Ready and Synced, none refused.
          for (const set of (
            await bed().central.list<Claim>(remoteGroup, "RemoteObjectSet", {
              labelSelector: `crossplane.io/composite=${xrName}`,
            })
          ).items) {
            assert.equal(cond(set, "Ready")?.status, "True", set.metadata.name);
            assert.equal(cond(set, "Synced")?.status, "True", set.metadata.name);
          }
        },
      );
  });
}
