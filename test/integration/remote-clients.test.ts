/**
 * Remote clients from ProviderConfigs on real API servers: a namespaced
 * ServiceAccount token is enough and is all the provider can use; a rotated
 * credentials Secret takes effect without a restart; a revoked token says so.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { pino } from "pino";
import { DynamicClient } from "../../controller/kube/dynamic.ts";
import { describeError, kubeStatus } from "../../controller/kube/errors.ts";
import { RemoteClients } from "../../controller/provider/clients.ts";
import { startTestBed, type TestBed } from "../bed/clusters.ts";
import { installCrds } from "../bed/install.ts";
import { namespacedToken } from "../bed/identity.ts";
import { eventually } from "../bed/eventually.ts";

let bed: TestBed;
let central: DynamicClient;
let east: DynamicClient;
const log = pino({ level: "silent" });
const fm = { fieldManager: "test" };

/** A ServiceAccount in `kafka` that may only manage ConfigMaps there, and a long-lived token for it. */
function remoteToken(name: string): Promise<string> {
  return namespacedToken(east, {
    namespace: "kafka",
    serviceAccount: "stretch-kafka",
    tokenSecret: name,
    rules: [
      {
        apiGroups: [""],
        resources: ["configmaps"],
        verbs: ["get", "list", "watch", "create", "patch", "delete"],
      },
    ],
  });
}

async function setCredentials(token: string): Promise<void> {
  const eastCluster = bed.cluster("east");
  const ca = readFileSync(join(dirname(eastCluster.kubeconfigPath), "ca.crt"), "utf8");
  await central.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "east-credentials", namespace: "stretch-kafka-system" },
      stringData: { server: eastCluster.server, "ca.crt": ca, token },
    },
    fm,
  );
}

before(async () => {
  bed = await startTestBed({ names: ["central", "east"] });
  central = new DynamicClient(bed.cluster("central").kubeConfig());
  east = new DynamicClient(bed.cluster("east").kubeConfig());
  await installCrds(bed.cluster("central").kubeConfig(), {
    crossplane: false,
    mcs: false,
    strimzi: false,
  });
  for (const [c, ns] of [
    [central, "stretch-kafka-system"],
    [east, "kafka"],
  ] as const) {
    await c.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, fm);
  }
});

after(async () => {
  await central.close();
  await east.close();
  await bed.close();
});

test(
  "a namespaced token is enough, and all the provider can use",
  { timeout: 120_000 },
  async () => {
    await setCredentials(await remoteToken("token-1"));
    await central.apply(
      {
        apiVersion: "remote.stretchkafka.dev/v1alpha1",
        kind: "ProviderConfig",
        metadata: { name: "east" },
        spec: {
          credentials: {
            source: "Secret",
            format: "Token",
            secretRef: { namespace: "stretch-kafka-system", name: "east-credentials" },
          },
        },
      },
      fm,
    );
    const clients = new RemoteClients(central, log);
    const changed: string[] = [];
    clients.onChange((pc) => changed.push(pc));
    await clients.start();
    try {
      const remote = await eventually("client for east", () => clients.get("east"));
      assert.equal(remote.warning, undefined);
      await remote.client.apply(
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe", namespace: "kafka" } },
        fm,
      );
      await assert.rejects(
        remote.client.list("v1", "Secret", { namespace: "kube-system" }),
        (err: unknown) => kubeStatus(err)?.code === 403,
      );
      await assert.rejects(
        remote.client.list("v1", "ConfigMap", { namespace: "default" }),
        (err: unknown) => kubeStatus(err)?.code === 403,
      );

      // Rotation: a new token in the Secret takes effect without a restart.
      const before = remote.fingerprint;
      changed.length = 0;
      await setCredentials(await remoteToken("token-2"));
      const rotated = await eventually("new client after rotation", async () => {
        const c = await clients.get("east");
        return c.fingerprint === before ? undefined : c;
      });
      assert.ok(changed.includes("east"), "listeners are told the credentials changed");
      await east.delete("v1", "Secret", "token-1", "kafka");
      await eventually("the old token is revoked", async () => {
        try {
          await remote.client.list("v1", "ConfigMap", { namespace: "kafka" });
          return undefined;
        } catch (err) {
          return kubeStatus(err)?.code === 401 ? true : undefined;
        }
      });
      await rotated.client.list("v1", "ConfigMap", { namespace: "kafka" });

      // Revoked credentials: the error says so (the ProviderConfig's condition will carry it).
      await east.delete("v1", "Secret", "token-2", "kafka");
      const err = await eventually("revoked token refused", async () => {
        try {
          await (await clients.get("east")).client.list("v1", "ConfigMap", { namespace: "kafka" });
          return undefined;
        } catch (e) {
          return kubeStatus(e)?.code === 401 ? e : undefined;
        }
      });
      assert.match(describeError(err), /^401 Unauthorized/);
    } finally {
      await clients.stop();
    }
  },
);

test("a ProviderConfig or Secret that does not exist is named", { timeout: 60_000 }, async () => {
  const clients = new RemoteClients(central, log);
  await clients.start();
  try {
    await assert.rejects(clients.get("nowhere"), /ProviderConfig "nowhere" does not exist/);
    await central.apply(
      {
        apiVersion: "remote.stretchkafka.dev/v1alpha1",
        kind: "ProviderConfig",
        metadata: { name: "west" },
        spec: {
          credentials: {
            source: "Secret",
            secretRef: { namespace: "stretch-kafka-system", name: "west-credentials" },
          },
        },
      },
      fm,
    );
    await eventually("ProviderConfig west seen", () => clients.providerConfig("west"));
    await assert.rejects(
      clients.get("west"),
      /Secret stretch-kafka-system\/west-credentials named by ProviderConfig "west" does not exist/,
    );
  } finally {
    await clients.stop();
  }
});
