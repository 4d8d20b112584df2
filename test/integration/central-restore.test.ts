/**
 * The central cluster lost and rebuilt, on real API servers (Strimzi and the
 * kubelet played; the real-Kafka version is in kafka-stretch.test.ts): the
 * claim runs in two remote clusters, `stretch-kafka backup` is taken, and the
 * central API server is replaced by a new, empty one with the clusters
 * registered again (what Git holds). The claim applied from Git alone changes
 * nothing in any remote cluster and says what to restore; deleted again, it
 * leaves everything running; `stretch-kafka restore` brings back a claim
 * whose managed resources adopt every remote object as it is: no object
 * written, no pod restarted, the same Kafka cluster id, node ids and
 * connection Secret values.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { startController, type Controller } from "../../controller/cli/controller.ts";
import { startTestBed, type TestBed } from "../../devbed/clusters.ts";
import { eventually } from "../../devbed/eventually.ts";
import { prepareCentral, providerNamespace } from "../../devbed/prepare-clusters.ts";
import { cliArgs, fastQueue, testLogger } from "../../devbed/provider-bed.ts";
import { standaloneBed, type StandaloneBed } from "../../devbed/standalone-bed.ts";

const run = promisify(execFile);
const remoteNames = ["east", "west"];
const claimFile = new URL("../../examples/claim-2-clusters.yaml", import.meta.url);
const g = "stretchkafka.dev/v1alpha1";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Claim extends KubeObject {
  spec: Record<string, unknown> & { resourceRef?: { name: string } };
  status?: Record<string, unknown> & {
    clusterId?: string;
    nodeIds?: unknown;
    conditions?: Condition[];
  };
}

const cond = (c: Claim | undefined, type: string): Condition | undefined =>
  c?.status?.conditions?.find((x) => x.type === type);

let sb: StandaloneBed;
let fresh: TestBed | undefined;
let central: DynamicClient;
let controller: Controller | undefined;
let work: string;

/** The claim's name and namespace, as Git has it. */
const fromGit = (): Claim => parse(readFileSync(claimFile, "utf8")) as Claim;

async function claim(): Promise<Claim | undefined> {
  return central.find<Claim>(g, "StretchKafka", "payments", "team-a");
}

/**
 * Every object in the remote clusters' Kafka namespace, by cluster, kind and
 * name: its uid, and its resourceVersion where only a writer of its spec or
 * metadata changes it (pods, podsets and budgets get status from the kubelet,
 * the played operator and the disruption controller: for those the
 * generation and what the provider stamps on them).
 */
async function remoteState(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const kinds: [string, string, boolean][] = [
    ["v1", "ConfigMap", true],
    ["v1", "Secret", true],
    ["v1", "Service", true],
    ["v1", "ServiceAccount", true],
    ["v1", "PersistentVolumeClaim", false],
    ["rbac.authorization.k8s.io/v1", "Role", true],
    ["rbac.authorization.k8s.io/v1", "RoleBinding", true],
    ["policy/v1", "PodDisruptionBudget", false],
    ["core.strimzi.io/v1", "StrimziPodSet", false],
    ["v1", "Pod", false],
  ];
  for (const [name, r] of sb.remotes) {
    for (const [apiVersion, kind, byVersion] of kinds) {
      for (const o of (await r.list(apiVersion, kind, { namespace: "kafka" })).items) {
        const a = o.metadata.annotations ?? {};
        out.set(
          `${name}/${kind}/${o.metadata.name ?? ""}`,
          JSON.stringify([
            o.metadata.uid,
            byVersion
              ? o.metadata.resourceVersion
              : (o.metadata as { generation?: number }).generation,
            a["remote.stretchkafka.dev/managed-resource"],
            a["remote.stretchkafka.dev/applied-hash"],
          ]),
        );
      }
    }
  }
  return out;
}

function assertUnchanged(
  before: Map<string, string>,
  now: Map<string, string>,
  when: string,
): void {
  const changed = [...new Set([...before.keys(), ...now.keys()])].filter(
    (k) => before.get(k) !== now.get(k),
  );
  assert.deepEqual(changed, [], `${when}: remote objects created, changed or deleted`);
}

async function cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, cliArgs(...args), { maxBuffer: 16 * 1024 * 1024 });
}

/** `stretch-kafka restore` of the backup into the rebuilt central cluster. */
async function restore(): Promise<{ stdout: string; stderr: string }> {
  assert.ok(fresh, "no rebuilt central cluster");
  return cli(
    "restore",
    "-f",
    join(work, "backup.yaml"),
    "--composer",
    "standalone",
    "--kubeconfig",
    fresh.cluster("central-rebuilt").kubeconfigPath,
    "--provider-namespace",
    providerNamespace,
  );
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "stretch-kafka-restore-"));
  // No Kafka runs here: the provider does not ask it.
  sb = await standaloneBed(remoteNames, { kafkaAdmin: false });
  central = sb.central;
  await central.apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } },
    { fieldManager: "test" },
  );
});

after(async () => {
  await controller?.stop();
  if (central !== sb.central) await central.close();
  await fresh?.close();
  await sb.close();
  rmSync(work, { recursive: true, force: true });
});

describe("the central cluster lost and rebuilt", () => {
  let composite = "";
  let clusterId = "";
  let nodeIds = "";
  let connection: Record<string, string> = {};
  let running = new Map<string, string>();

  test(
    "a running claim is backed up: its composite, status and CAs",
    { timeout: 240_000 },
    async () => {
      await central.apply(fromGit(), { fieldManager: "app-team" });
      const c = await eventually(
        "the claim is Ready",
        async () => {
          const x = await claim();
          return cond(x, "Ready")?.status === "True" ? x : undefined;
        },
        180,
        500,
      );
      composite = c.spec.resourceRef?.name ?? "";
      clusterId = c.status?.clusterId ?? "";
      nodeIds = JSON.stringify(c.status?.nodeIds);
      assert.ok(composite && clusterId);
      const secret = await central.get<KubeObject & { data: Record<string, string> }>(
        "v1",
        "Secret",
        "payments-kafka",
        "team-a",
      );
      connection = secret.data;
      running = await remoteState();

      const { stdout } = await cli(
        "backup",
        "--kubeconfig",
        sb.bed.cluster("central").kubeconfigPath,
        "--provider-namespace",
        providerNamespace,
      );
      writeFileSync(join(work, "backup.yaml"), stdout);
      const list = parse(stdout) as { kind: string; items: KubeObject[] };
      assert.equal(list.kind, "List");
      assert.deepEqual(
        list.items.map((i) => `${i.kind}/${i.metadata.name ?? ""}`),
        [
          "StretchKafka/payments",
          `XStretchKafka/${composite}`,
          `Secret/${composite}-cluster-ca`,
          `Secret/${composite}-clients-ca`,
        ],
      );
      const xr = list.items[1] as KubeObject & { status: { clusterId: string } };
      assert.equal(xr.status.clusterId, clusterId);
      assert.equal(xr.metadata.uid, undefined, "no uid travels");
    },
  );

  test(
    "a new, empty central cluster with the claim from Git alone changes nothing remote and says what to restore",
    { timeout: 240_000 },
    async () => {
      await sb.controller.stop();
      await sb.bed.cluster("central").stop();
      fresh = await startTestBed({ names: ["central-rebuilt"] });
      const kc = fresh.cluster("central-rebuilt").kubeConfig();
      // What the platform team keeps in Git: the clusters' registration.
      await prepareCentral(
        fresh.cluster("central-rebuilt"),
        remoteNames.map((n) => sb.bed.cluster(n)),
        { targetNamespace: "kafka", report: () => {} },
      );
      central = new DynamicClient(kc);
      controller = await startController(central, testLogger(), {
        namespace: providerNamespace,
        queue: fastQueue,
        kafka: false,
      });
      await central.apply(
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } },
        { fieldManager: "test" },
      );
      await central.apply(fromGit(), { fieldManager: "app-team" });
      const c = await eventually(
        "the claim says the running Kafka is not this central cluster's, and what to restore",
        async () => {
          const x = await claim();
          const d = cond(x, "Degraded");
          // Each cluster's managed resources decide on their own: wait until both have said so.
          return d?.reason === "NotRestored" && / cluster east, west /.test(d.message ?? "")
            ? x
            : undefined;
        },
        120,
        500,
      );
      const message = cond(c, "Degraded")?.message ?? "";
      assert.match(message, /^Kafka already runs in cluster east, west under managed resources/);
      assert.match(message, /stretch-kafka restore/);
      assert.notEqual(c.spec.resourceRef?.name, composite, "Git alone cannot know the composite");
      assert.equal(cond(c, "Ready")?.status, "False");
      // Said after the controller decided: every managed resource refused its remote object.
      assertUnchanged(running, await remoteState(), "after the claim from Git alone");

      // The restore refuses while that claim is there, and writes nothing.
      await assert.rejects(restore(), (err: Error & { stderr?: string }) =>
        /nothing restored:[\s\S]*claim team-a\/payments exists already, bound to composite/.test(
          err.stderr ?? "",
        ),
      );
      assert.equal(await central.find(g, "XStretchKafka", composite), undefined);

      // Deleted, it leaves every remote object alone: none was its own.
      await central.delete(g, "StretchKafka", "payments", "team-a");
      await eventually(
        "the claim, its composite and its managed resources are gone",
        async () => {
          if (await claim()) return undefined;
          const left = await central.list(g, "XStretchKafka");
          for (const kind of ["RemoteObjectSet", "RemoteStrimziPodSet"]) {
            const mrs = await central.list("remote.stretchkafka.dev/v1alpha1", kind);
            if (mrs.items.length > 0) return undefined;
          }
          return left.items.length === 0 ? true : undefined;
        },
        120,
        500,
      );
      assertUnchanged(running, await remoteState(), "after the claim from Git alone was deleted");
    },
  );

  test(
    "`stretch-kafka restore` brings the claim back onto the running Kafka: nothing written remotely, no pod restarted",
    { timeout: 240_000 },
    async () => {
      const { stdout } = await restore();
      assert.match(stdout, new RegExp(`restored team-a/payments: composite ${composite}`));
      const c = await eventually(
        "the restored claim is Ready",
        async () => {
          const x = await claim();
          return cond(x, "Ready")?.status === "True" && cond(x, "Synced")?.status === "True"
            ? x
            : undefined;
        },
        180,
        500,
      );
      assert.equal(c.spec.resourceRef?.name, composite);
      assert.equal(c.status?.clusterId, clusterId);
      assert.equal(JSON.stringify(c.status.nodeIds), nodeIds);
      assert.equal(cond(c, "Degraded")?.reason, "AllClustersReady");
      const secret = await eventually("the connection Secret", () =>
        central.find<KubeObject & { data: Record<string, string> }>(
          "v1",
          "Secret",
          "payments-kafka",
          "team-a",
        ),
      );
      assert.deepEqual(secret.data, connection, "the same connection Secret values");
      assertUnchanged(running, await remoteState(), "after the restore");

      // Twice is once.
      const again = await restore();
      assert.match(again.stdout, /team-a\/payments is restored already/);
      // The restored composite is the claim's controller's again: the restore's fields are its own.
      const xr = await central.get<
        KubeObject & { metadata: { managedFields?: { manager: string }[] } }
      >(g, "XStretchKafka", composite);
      assert.equal(xr.metadata.annotations?.["crossplane.io/paused"], undefined);
      assert.ok(
        !(xr.metadata.managedFields ?? []).some((f) => f.manager === "stretch-kafka-restore"),
        JSON.stringify(xr.metadata.managedFields?.map((f) => f.manager)),
      );
    },
  );
});
