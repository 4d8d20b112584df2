/**
 * Remote clients from ProviderConfigs on real API servers: a namespaced
 * ServiceAccount token is enough and is all the provider can use; a rotated
 * credentials Secret takes effect without a restart; a revoked token says so.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { groups } from "../../apis/index.ts";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { describeError, kubeStatus } from "../../controller/kube/errors.ts";
import { RemoteClients } from "../../controller/provider/clients.ts";
import { CredentialsError } from "../../controller/provider/credentials.ts";
import { eventually } from "../../devbed/eventually.ts";
import { installCrds } from "../../devbed/install.ts";
import {
  configMapToken,
  fm,
  providerBed,
  registerWithToken,
  serverCa,
  testLogger,
  type ProviderBed,
} from "../../devbed/provider-bed.ts";

let pb: ProviderBed;
let central: DynamicClient;
let east: DynamicClient;
const log = testLogger();

before(async () => {
  pb = await providerBed({ remotes: ["east"], register: false });
  central = pb.central;
  east = pb.remote("east");
});

after(async () => {
  await pb.close();
});

test(
  "a namespaced token is enough, and all the provider can use",
  { timeout: 120_000 },
  async () => {
    await registerWithToken(pb, "east", await configMapToken(east, "token-1"));
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
      await registerWithToken(pb, "east", await configMapToken(east, "token-2"));
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

test(
  "the v2 shape's configs: a ClusterProviderConfig names any Secret, a namespaced ProviderConfig only one of its own namespace",
  { timeout: 120_000 },
  async () => {
    await installCrds(pb.bed.cluster("central").kubeConfig(), {
      crossplane: false,
      mcs: false,
      monitoring: false,
      strimzi: false,
      ours: false,
      oursNamespaced: true,
    });
    const c = pb.bed.cluster("east");
    const stringData = {
      server: c.server,
      "ca.crt": serverCa(c),
      token: await configMapToken(east, "token-v2"),
    };
    await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }, fm);
    for (const namespace of ["stretch-kafka-system", "team-a"])
      await central.apply(
        {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "east-v2-credentials", namespace },
          stringData,
        },
        fm,
      );
    const config = (
      kind: string,
      name: string,
      secretNamespace: string,
      namespace?: string,
    ): KubeObject => ({
      apiVersion: groups.namespacedRemote,
      kind,
      metadata: { name, ...(namespace ? { namespace } : {}) },
      spec: {
        credentials: {
          source: "Secret",
          format: "Token",
          secretRef: { namespace: secretNamespace, name: "east-v2-credentials" },
        },
      },
    });
    await central.apply(config("ClusterProviderConfig", "east", "stretch-kafka-system"), fm);
    await central.apply(config("ProviderConfig", "east", "team-a", "team-a"), fm);
    await central.apply(config("ProviderConfig", "borrowed", "stretch-kafka-system", "team-a"), fm);

    const clients = new RemoteClients(central, log, undefined, { namespaced: true });
    const legacyOnly = new RemoteClients(central, log);
    await clients.start();
    await legacyOnly.start();
    try {
      for (const key of ["ClusterProviderConfig/east", "ProviderConfig/team-a/east"]) {
        const remote = await eventually(`a client for ${key}`, () => clients.get(key));
        await remote.client.list("v1", "ConfigMap", { namespace: "kafka" });
      }
      await eventually("the borrowing config seen", () =>
        clients.providerConfig("ProviderConfig/team-a/borrowed"),
      );
      await assert.rejects(
        clients.get("ProviderConfig/team-a/borrowed"),
        (err: unknown) =>
          err instanceof CredentialsError &&
          /^ProviderConfig team-a\/borrowed names Secret stretch-kafka-system\/east-v2-credentials; a ProviderConfig in namespace team-a may only name a Secret of its own namespace/.test(
            err.message,
          ),
      );
      await assert.rejects(
        clients.get("ProviderConfig/team-b/east"),
        /ProviderConfig team-b\/east does not exist/,
      );
      await assert.rejects(
        legacyOnly.get("ClusterProviderConfig/east"),
        /ClusterProviderConfig "east" is of the v2 shape, which this provider does not serve/,
      );
    } finally {
      await clients.stop();
      await legacyOnly.stop();
    }
  },
);
