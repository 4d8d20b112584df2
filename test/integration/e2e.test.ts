/**
 * End to end on the real test bed, without Crossplane: a claim in the central
 * cluster becomes objects in three remote clusters through the composition
 * engine, the function and the provider; remote Strimzi is played (pods made
 * Ready). Edits converge without restarting nodes whose configuration stayed,
 * a stopped cluster degrades the claim and recovers, deleting the claim
 * removes everything, and the registered identity is held to its Role.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { parse } from "yaml";
import { KubeConfig } from "@kubernetes/client-node";
import { DynamicClient, KubeApiError, type KubeObject } from "../../controller/kube/dynamic.ts";
import type { TestBed } from "../../devbed/clusters.ts";
import { standaloneBed, type StandaloneBed } from "../../devbed/standalone-bed.ts";
import { eventually } from "../../devbed/eventually.ts";
import { serverCa } from "../../devbed/provider-bed.ts";

const run = promisify(execFile);
const remoteNames = ["east", "west", "north", "south"];
const claimFile = new URL("../../examples/claim-3-clusters.yaml", import.meta.url);
const g = "stretchkafka.dev/v1alpha1";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Claim extends KubeObject {
  spec: Record<string, unknown> & {
    resourceRef?: { name: string };
    clusters: {
      name: string;
      providerConfigRef: { name: string };
      nodePools: Record<string, unknown>[];
    }[];
  };
  status?: Record<string, unknown> & { conditions?: Condition[] };
}
interface Pod extends KubeObject {
  metadata: KubeObject["metadata"] & { uid?: string };
}

let bed: TestBed;
let central: DynamicClient;
let remotes: Map<string, DynamicClient>;

const cond = (
  o: { status?: { conditions?: Condition[] } } | undefined,
  type: string,
): Condition | undefined => o?.status?.conditions?.find((c) => c.type === type);

async function claim(): Promise<Claim | undefined> {
  return central.find<Claim>(g, "StretchKafka", "orders", "team-a");
}

async function readyClaim(seconds = 120): Promise<Claim> {
  return eventually(
    "the claim is Ready",
    async () => {
      const c = await claim();
      return cond(c, "Ready")?.status === "True" && cond(c, "Synced")?.status === "True"
        ? c
        : undefined;
    },
    seconds,
    250,
  );
}

/** Every pod of the Kafka cluster, by name: its uid (a restart changes it) and revision. */
async function pods(): Promise<Map<string, { uid: string; revision: string; cluster: string }>> {
  const out = new Map<string, { uid: string; revision: string; cluster: string }>();
  for (const [name, r] of remotes) {
    if (!bed.cluster(name).running) continue;
    for (const p of (await r.list<Pod>("v1", "Pod", { namespace: "kafka" })).items) {
      out.set(p.metadata.name ?? "", {
        uid: p.metadata.uid ?? "",
        revision: p.metadata.annotations?.["strimzi.io/revision"] ?? "",
        cluster: name,
      });
    }
  }
  return out;
}

/** The revision each podset now asks for, by pod name. */
async function desiredRevisions(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, r] of remotes) {
    if (!bed.cluster(name).running) continue;
    const list = await r.list<KubeObject & { spec: { pods: KubeObject[] } }>(
      "core.strimzi.io/v1",
      "StrimziPodSet",
      {
        namespace: "kafka",
      },
    );
    for (const ps of list.items)
      for (const p of ps.spec.pods)
        out.set(p.metadata.name ?? "", p.metadata.annotations?.["strimzi.io/revision"] ?? "");
  }
  return out;
}

async function applyClaim(edit: (c: Claim) => void = () => {}): Promise<void> {
  const c = parse(readFileSync(claimFile, "utf8")) as Claim;
  edit(c);
  await central.apply(c, { fieldManager: "app-team" });
}

let sb: StandaloneBed;

before(async () => {
  // No Kafka runs here: the provider does not ask it (rolls go by pod readiness alone).
  sb = await standaloneBed(remoteNames, { kafkaAdmin: false });
  ({ bed, central, remotes } = sb);
  await central.apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } },
    { fieldManager: "test" },
  );
});

after(async () => {
  await sb.close();
});

describe("a claim end to end, without Crossplane", () => {
  test(
    "becomes objects in three clusters and turns Ready with status and a connection Secret",
    { timeout: 180_000 },
    async () => {
      await applyClaim();
      const c = await readyClaim();
      const clusters = c.status?.["clusters"] as {
        name: string;
        ready: boolean;
        pods: { ready: number; total: number };
        rack?: string;
      }[];
      assert.deepEqual(
        clusters.map((x) => [x.name, x.ready, x.pods.ready, x.pods.total]),
        [
          ["east", true, 3, 3],
          ["west", true, 3, 3],
          ["north", true, 3, 3],
        ],
      );
      const kafka = c.status?.["kafka"] as { controllers: number[]; brokers: number[] };
      assert.equal(kafka.controllers.length, 3);
      assert.equal(kafka.brokers.length, 6);

      // The claim and composite reference each other, with Crossplane's labels.
      const xrName = c.spec.resourceRef?.name ?? "";
      const xr = await central.get<
        KubeObject & {
          spec: {
            claimRef: { name: string; namespace: string };
            resourceRefs: { kind: string; name: string }[];
          };
        }
      >(g, "XStretchKafka", xrName);
      assert.deepEqual(xr.spec.claimRef, {
        apiVersion: g,
        kind: "StretchKafka",
        name: "orders",
        namespace: "team-a",
      });
      const labels = xr.metadata.labels ?? {};
      assert.equal(labels["crossplane.io/claim-name"], "orders");
      assert.equal(labels["crossplane.io/claim-namespace"], "team-a");

      // Every composed resource is referenced by the composite, labelled and
      // controlled by it: a RemoteObjectSet per cluster, holding its podsets.
      const sets = await central.list<
        KubeObject & { spec: { forProvider: { objects: { kind: string }[] } } }
      >("remote.stretchkafka.dev/v1alpha1", "RemoteObjectSet", {
        labelSelector: `crossplane.io/composite=${xrName}`,
      });
      assert.equal(sets.items.length, 3);
      for (const set of sets.items) {
        assert.ok(
          xr.spec.resourceRefs.some(
            (r) => r.kind === "RemoteObjectSet" && r.name === set.metadata.name,
          ),
        );
        assert.ok(set.metadata.annotations?.["crossplane.io/composition-resource-name"]);
        assert.equal(set.metadata.ownerReferences?.[0]?.name, xrName);
      }
      assert.equal(
        sets.items
          .flatMap((set) => set.spec.forProvider.objects)
          .filter((o) => o.kind === "RemoteStrimziPodSet").length,
        6,
      );

      // In each remote cluster: the podsets, the anchor, the pods Ready.
      for (const name of ["east", "west", "north"]) {
        const r = remotes.get(name);
        assert.ok(r);
        const sets = await r.list("core.strimzi.io/v1", "StrimziPodSet", { namespace: "kafka" });
        assert.deepEqual(sets.items.map((s) => s.metadata.name).sort(), [
          "orders-brokers",
          "orders-controllers",
        ]);
      }
      assert.equal(
        (
          await remotes
            .get("south")
            ?.list("core.strimzi.io/v1", "StrimziPodSet", { namespace: "kafka" })
        )?.items.length,
        0,
      );

      // The connection Secret in the claim's namespace: bootstrap servers, the CA, racks.
      const secret = await eventually("the connection Secret has the CA", async () => {
        const s = await central.find<KubeObject & { data?: Record<string, string> }>(
          "v1",
          "Secret",
          "orders-kafka",
          "team-a",
        );
        return s?.data?.["ca.crt"] ? s : undefined;
      });
      const text = (k: string): string =>
        Buffer.from(secret.data?.[k] ?? "", "base64").toString("utf8");
      assert.match(text("ca.crt"), /^-----BEGIN CERTIFICATE-----/);
      assert.match(text("bootstrap.servers"), /:9092/);
      // The producer settings the Kafka benchmark measured (docs/kafka-configuration.md).
      assert.match(text("producer.properties"), /^batch\.size=\d+$/m);
      const perCluster = JSON.parse(text("clusters")) as Record<
        string,
        { rack: string; bootstrapServers: string }
      >;
      assert.deepEqual(Object.keys(perCluster).sort(), ["east", "north", "west"]);
      for (const v of Object.values(perCluster)) {
        assert.ok(v.rack);
        assert.match(v.bootstrapServers, /:9092/);
      }
      // The CA clients get is the one the nodes' certificates chain to.
      const remoteCa = await remotes
        .get("east")
        ?.get<KubeObject & { data: Record<string, string> }>(
          "v1",
          "Secret",
          "orders-cluster-ca-cert",
          "kafka",
        );
      assert.equal(
        text("ca.crt"),
        Buffer.from(remoteCa?.data["ca.crt"] ?? "", "base64").toString("utf8"),
      );

      // No Kafka runs in this bed (its pods are only marked Ready), so its
      // provider runs without the admin channel (as with --no-kafka-admin):
      // DataAtRisk stays Unknown, and that holds up nothing.
      const unknown = await eventually("DataAtRisk says Kafka was not asked", async () => {
        const x = await claim();
        const d = cond(x, "DataAtRisk");
        return d?.status === "Unknown" && d.reason === "NotAskedYet" ? x : undefined;
      });
      assert.equal((unknown.status?.["kafka"] as { live?: unknown }).live, undefined);
      assert.equal(cond(unknown, "Ready")?.status, "True");
    },
  );

  test(
    "scaling a pool and adding a fourth cluster converge; unchanged nodes keep running",
    { timeout: 240_000 },
    async () => {
      const edits: [number, (c: Claim) => void][] = [
        [
          10,
          (c: Claim) => {
            const east = c.spec.clusters[0];
            const brokers = east?.nodePools[1];
            if (brokers) brokers["replicas"] = 3;
          },
        ],
        [
          12,
          (c: Claim) => {
            const east = c.spec.clusters[0];
            const brokers = east?.nodePools[1];
            if (brokers) brokers["replicas"] = 3;
            c.spec.clusters.push({
              name: "south",
              providerConfigRef: { name: "south" },
              nodePools: [{ name: "brokers", roles: ["broker"], replicas: 2 }],
            });
          },
        ],
      ];
      for (const [expected, edit] of edits) {
        const before = await pods();
        await applyClaim(edit);
        // Converged: Ready again, with every node the edit asks for running its revision.
        const c = await eventually(
          `${String(expected)} nodes run their revisions and the claim is Ready`,
          async () => {
            const desired = await desiredRevisions();
            const now = await pods();
            if (desired.size !== expected) return undefined;
            for (const [name, rev] of desired)
              if (now.get(name)?.revision !== rev) return undefined;
            const x = await claim();
            const nodes = (x?.status?.["summary"] as { nodes?: string } | undefined)?.nodes;
            return cond(x, "Ready")?.status === "True" &&
              nodes === `${String(expected)}/${String(expected)}`
              ? x
              : undefined;
          },
          180,
          250,
        );
        const desired = await desiredRevisions();
        const after = await pods();
        for (const [name, was] of before) {
          if (desired.get(name) === was.revision)
            assert.equal(
              after.get(name)?.uid,
              was.uid,
              `${name}: configuration unchanged, so not restarted`,
            );
        }
        assert.ok(after.size > before.size, "new nodes started");
        assert.equal(cond(c, "Synced")?.status, "True");
      }
      const sets = await remotes
        .get("south")
        ?.list("core.strimzi.io/v1", "StrimziPodSet", { namespace: "kafka" });
      assert.deepEqual(
        sets?.items.map((s) => s.metadata.name),
        ["orders-brokers"],
      );
    },
  );

  test(
    "shrinking is refused while Kafka cannot say the brokers are empty; Unchecked removes what is no longer desired",
    { timeout: 240_000 },
    async () => {
      const before = await pods();
      // No Kafka runs in this bed, so nobody can say the removed brokers hold
      // no replicas: the shrink is refused, naming them, and nothing changes.
      await applyClaim(); // the original: east brokers back to 2, no south
      const refused = await eventually("the shrink is refused", async () => {
        const s = cond(await claim(), "Synced");
        return s?.status === "False" && /removing broker/.test(s.message ?? "") ? s : undefined;
      });
      assert.match(refused.message ?? "", /cannot tell whether it holds partition replicas/);
      assert.match(refused.message ?? "", /cluster south/);
      assert.deepEqual(
        [...(await pods()).keys()].sort(),
        [...before.keys()].sort(),
        "no pod was removed",
      );
      // Unchecked: the platform team takes the risk (as Strimzi's skip-broker-scaledown-check).
      await applyClaim((c) => {
        c.spec["brokerRemoval"] = { policy: "Unchecked" };
      });
      await eventually(
        "9 nodes, nothing in south, and the claim Ready",
        async () => {
          const desired = await desiredRevisions();
          const now = await pods();
          if (desired.size !== 9 || now.size !== 9) return undefined;
          const south = await central.list("remote.stretchkafka.dev/v1alpha1", "RemoteObjectSet", {
            labelSelector: "crossplane.io/claim-name=orders",
          });
          if (south.items.some((m) => m.metadata.name?.includes("-south-"))) return undefined;
          const left = await remotes.get("south")?.list("v1", "ConfigMap", { namespace: "kafka" });
          if (left?.items.some((c) => c.metadata.name?.startsWith("orders"))) return undefined;
          return cond(await claim(), "Ready")?.status === "True" ? true : undefined;
        },
        180,
        250,
      );
      const desired = await desiredRevisions();
      const after = await pods();
      for (const [name, was] of before) {
        if (after.has(name) && desired.get(name) === was.revision)
          assert.equal(
            after.get(name)?.uid,
            was.uid,
            `${name}: configuration unchanged, so not restarted`,
          );
      }
      const xr = await central.get<KubeObject & { spec: { resourceRefs: { name: string }[] } }>(
        g,
        "XStretchKafka",
        (await claim())?.spec.resourceRef?.name ?? "",
      );
      assert.ok(
        !xr.spec.resourceRefs.some((r) => r.name.includes("-south-")),
        "the composite no longer references them",
      );
    },
  );

  test(
    "a stopped cluster degrades the claim, naming it; back, it is Ready with nothing lost",
    { timeout: 240_000 },
    async () => {
      const before = await pods();
      await bed.cluster("west").stop();
      try {
        const degraded = await eventually(
          "the claim is Degraded",
          async () => {
            const d = cond(await claim(), "Degraded");
            return d?.status === "True" ? d : undefined;
          },
          120,
          250,
        );
        assert.match(degraded.message ?? "", /west/);
      } finally {
        await bed.cluster("west").start();
      }
      await readyClaim(180);
      assert.equal(cond(await claim(), "Degraded")?.status, "False");
      const after = await pods();
      for (const [name, was] of before)
        assert.equal(after.get(name)?.uid, was.uid, `${name} kept running`);
    },
  );

  test(
    "bad edits are refused with a reason, by the API server or the function, and change nothing",
    { timeout: 120_000 },
    async () => {
      const before = await pods();
      // The API server refuses what the schema forbids on a live claim.
      await assert.rejects(
        applyClaim((c) => {
          (c.spec as Record<string, unknown>)["targetNamespace"] = "elsewhere";
        }),
        (err: unknown) =>
          err instanceof KubeApiError && err.code === 422 && /targetNamespace/.test(err.message),
      );
      // The function refuses a key it owns: the claim says so, nothing is applied.
      await applyClaim((c) => {
        (c.spec["kafka"] as { config: Record<string, unknown> }).config["node.id"] = 7;
      });
      const refused = await eventually("the claim says why", async () => {
        const s = cond(await claim(), "Synced");
        return s?.status === "False" && /node\.id/.test(s.message ?? "") ? s : undefined;
      });
      assert.match(refused.message ?? "", /cannot compose resources/);
      const stillReady = cond(await claim(), "Ready");
      assert.equal(stillReady?.status, "True", "the last good status stays");
      await applyClaim();
      await eventually("Synced again once the edit is undone", async () =>
        cond(await claim(), "Synced")?.status === "True" ? true : undefined,
      );
      const after = await pods();
      for (const [name, was] of before)
        assert.equal(after.get(name)?.uid, was.uid, `${name} kept running`);
    },
  );

  test(
    "register-cluster's identity works inside its Role and is refused outside it",
    { timeout: 60_000 },
    async () => {
      const s = await central.get<KubeObject & { data: Record<string, string> }>(
        "v1",
        "Secret",
        "east-credentials",
        "stretch-kafka-system",
      );
      const token = Buffer.from(s.data["token"] ?? "", "base64").toString("utf8");
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: "east",
            server: bed.cluster("east").server,
            caData: Buffer.from(serverCa(bed.cluster("east"))).toString("base64"),
          },
        ],
        users: [{ name: "provider", token }],
        contexts: [{ name: "east", cluster: "east", user: "provider" }],
        currentContext: "east",
      });
      const asProvider = new DynamicClient(kc);
      try {
        assert.ok((await asProvider.list("v1", "Secret", { namespace: "kafka" })).items.length > 0);
        await assert.rejects(
          asProvider.list("v1", "Secret", { namespace: "kube-system" }),
          (err: unknown) => err instanceof KubeApiError && err.code === 403,
        );
        await assert.rejects(
          asProvider.list("v1", "Namespace"),
          (err: unknown) => err instanceof KubeApiError && err.code === 403,
        );
        await assert.rejects(
          asProvider.apply(
            {
              apiVersion: "apps/v1",
              kind: "Deployment",
              metadata: { name: "x", namespace: "kafka" },
              spec: {},
            },
            { fieldManager: "t" },
          ),
          (err: unknown) => err instanceof KubeApiError && err.code === 403,
        );
      } finally {
        await asProvider.close();
      }
    },
  );

  test(
    "stretch-kafka register-cluster prints what it did and changes nothing when run again",
    { timeout: 120_000 },
    async () => {
      const cli = new URL("../../controller/cli/main.ts", import.meta.url).pathname;
      const register = () =>
        run(
          process.execPath,
          [
            "--import",
            "tsx",
            cli,
            "register-cluster",
            "south",
            "--remote-kubeconfig",
            bed.cluster("south").kubeconfigPath,
            "--kubeconfig",
            bed.cluster("central").kubeconfigPath,
          ],
          { env: { ...process.env, NODE_OPTIONS: "" } },
        );
      const token = async (): Promise<string> =>
        (
          await central.get<KubeObject & { data: Record<string, string> }>(
            "v1",
            "Secret",
            "south-credentials",
            "stretch-kafka-system",
          )
        ).data["token"] ?? "";
      const before = await token();
      const first = await register();
      assert.match(
        first.stdout,
        /remote: ServiceAccount, Role and RoleBinding kafka\/stretch-kafka-provider/,
      );
      assert.match(first.stdout, /central: ProviderConfig south/);
      const second = await register();
      assert.equal(second.stdout, first.stdout);
      assert.equal(await token(), before, "the token is kept");
      let last: Condition | undefined;
      await eventually(
        "the ProviderConfig is Ready",
        async () => {
          const pc = await central.get<KubeObject & { status?: { conditions?: Condition[] } }>(
            "remote.stretchkafka.dev/v1alpha1",
            "ProviderConfig",
            "south",
          );
          last = cond(pc, "Ready");
          return last?.status === "True" ? true : undefined;
        },
        30,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; last Ready condition: ${JSON.stringify(last)}`);
      });
    },
  );

  test(
    "an object someone else made under a composed resource's name is not taken over",
    { timeout: 180_000 },
    async () => {
      const xrName = (await claim())?.spec.resourceRef?.name ?? "";
      const name = `${xrName}-south-objects`;
      const intruder = {
        apiVersion: "remote.stretchkafka.dev/v1alpha1",
        kind: "RemoteObjectSet",
        metadata: { name },
        spec: {
          providerConfigRef: { name: "south" },
          forProvider: {
            objects: [
              {
                name: "theirs",
                kind: "RemoteConfigMap",
                deletionPolicy: "Orphan",
                forProvider: {
                  manifest: {
                    apiVersion: "v1",
                    kind: "ConfigMap",
                    metadata: { name: "someone-elses", namespace: "kafka" },
                  },
                },
              },
            ],
          },
        },
      };
      await central.apply(intruder, { fieldManager: "someone-else" });
      await applyClaim((c) => {
        c.spec.clusters.push({
          name: "south",
          providerConfigRef: { name: "south" },
          nodePools: [{ name: "brokers", roles: ["broker"], replicas: 2 }],
        });
      });
      const synced = await eventually("the claim names the conflict", async () => {
        const s = cond(await claim(), "Synced");
        return s?.status === "False" && s.message?.includes(name) ? s : undefined;
      });
      assert.match(synced.message ?? "", /belongs to composite \(none\); not taking it over/);
      const still = await central.get<
        KubeObject & {
          spec: { forProvider: { objects: { forProvider: { manifest: KubeObject } }[] } };
        }
      >("remote.stretchkafka.dev/v1alpha1", "RemoteObjectSet", name);
      assert.deepEqual(
        still.spec.forProvider.objects.map((o) => o.forProvider.manifest.metadata.name),
        ["someone-elses"],
        "left as its owner made it",
      );
      assert.equal(still.metadata.labels?.["crossplane.io/composite"], undefined);

      await central.delete("remote.stretchkafka.dev/v1alpha1", "RemoteObjectSet", name);
      await readyClaim(180);
    },
  );

  test(
    "deleting the claim removes every remote and every central object",
    { timeout: 180_000 },
    async () => {
      const xrName = (await claim())?.spec.resourceRef?.name ?? "";
      await central.delete(g, "StretchKafka", "orders", "team-a");
      await eventually(
        "the claim, its composite and its managed resources are gone",
        async () => {
          if (await claim()) return undefined;
          if (await central.find(g, "XStretchKafka", xrName)) return undefined;
          for (const k of [
            "RemoteObjectSet",
            "RemoteStrimziPodSet",
            "RemoteConfigMap",
            "RemoteSecret",
            "RemoteService",
            "RemoteKafka",
          ]) {
            const l = await central.list("remote.stretchkafka.dev/v1alpha1", k);
            if (l.items.length > 0) return undefined;
          }
          return true;
        },
        150,
        500,
      );
      // The connection Secret is the claim's: the garbage collector removes it.
      await eventually("the connection Secret is gone", async () =>
        (await central.find("v1", "Secret", "orders-kafka", "team-a")) ? undefined : true,
      );
      for (const [name, r] of remotes) {
        await eventually(
          `cluster ${name} has no object of the Kafka cluster left`,
          async () => {
            for (const [v, k] of [
              ["core.strimzi.io/v1", "StrimziPodSet"],
              ["v1", "ConfigMap"],
              ["v1", "Pod"],
              ["kafka.strimzi.io/v1", "Kafka"],
              ["v1", "Service"],
            ] as const) {
              const left = (await r.list(v, k, { namespace: "kafka" })).items.filter((o) =>
                o.metadata.name?.startsWith("orders"),
              );
              if (left.length > 0) return undefined;
            }
            return true;
          },
          120,
          500,
        );
      }
    },
  );
});
