/**
 * Credentials through the provider on real API servers: a namespaced token
 * is all it needs; a revoked token is reported on the ProviderConfig and the
 * managed resource (not a crash loop); a new token in the Secret brings
 * everything back without a restart.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { kubeStatus } from "../../controller/kube/errors.ts";
import { KubeConfig } from "@kubernetes/client-node";
import { Provider } from "../../controller/provider/provider.ts";
import { eventually } from "../../devbed/eventually.ts";
import {
  configMapToken,
  fastQueue,
  fm,
  group,
  providerBed,
  registerWithToken,
  remoteConfigMap,
  serverCa,
  testLogger,
  type ProviderBed,
} from "../../devbed/provider-bed.ts";
import { teardown } from "../teardown.ts";

let pb: ProviderBed;
let central: DynamicClient;
let east: DynamicClient;
let provider: Provider;
let revoked = "";

type Status = {
  conditions?: { type: string; status: string; reason: string; message?: string }[];
  lastError?: string;
};

async function statusOf(kind: string, name: string): Promise<Status | undefined> {
  return (await central.find<KubeObject & { status?: Status }>(group, kind, name))?.status;
}

before(async () => {
  pb = await providerBed({ remotes: ["east"], register: false });
  central = pb.central;
  east = pb.remote("east");
  revoked = await configMapToken(east, "token-1");
  await registerWithToken(pb, "east", revoked);
  provider = new Provider(central, testLogger(), { ...fastQueue, concurrency: 2 });
  await provider.start();
});

after(async () => {
  await teardown(
    () => provider.stop(),
    () => pb.close(),
  );
});

test(
  "a revoked token is reported; a new one brings everything back without a restart",
  { timeout: 120_000 },
  async () => {
    await central.apply(remoteConfigMap("probe", { data: { v: "1" } }), fm);
    await eventually("applied with the namespaced token", async () =>
      (await statusOf("RemoteConfigMap", "probe"))?.conditions?.some(
        (c) => c.type === "Ready" && c.status === "True",
      )
        ? true
        : undefined,
    );
    await eventually("ProviderConfig Ready", async () =>
      (await statusOf("ProviderConfig", "east"))?.conditions?.some(
        (c) => c.type === "Ready" && c.status === "True",
      )
        ? true
        : undefined,
    );

    await east.delete("v1", "Secret", "token-1", "kafka");
    // Revocation takes effect when the API server has seen the Secret go.
    const c = pb.bed.cluster("east");
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser(
      {
        name: "east",
        server: c.server,
        caData: Buffer.from(serverCa(c)).toString("base64"),
        skipTLSVerify: false,
      },
      { name: "old", token: revoked },
    );
    const old = new DynamicClient(kc);
    await eventually("the old token is refused", async () => {
      try {
        await old.list("v1", "ConfigMap", { namespace: "kafka" });
        return undefined;
      } catch (err) {
        return kubeStatus(err)?.code === 401 ? true : undefined;
      }
    });
    await old.close();
    await central.apply(remoteConfigMap("probe", { data: { v: "2" } }), fm);
    const mr = await eventually("the managed resource says why", async () => {
      const c = (await statusOf("RemoteConfigMap", "probe"))?.conditions?.find(
        (x) => x.type === "Synced",
      );
      return c?.status === "False" && c.message?.includes("401") ? c : undefined;
    });
    assert.match(mr.message ?? "", /cannot apply ConfigMap kafka\/probe: 401 Unauthorized/);
    const pc = await eventually("the ProviderConfig says the credentials are refused", async () => {
      const s = await statusOf("ProviderConfig", "east");
      const c = s?.conditions?.find((x) => x.type === "Ready");
      return c?.status === "False" && c.reason === "Unauthorized" ? s : undefined;
    });
    assert.match(pc.lastError ?? "", /401 Unauthorized/);

    await registerWithToken(pb, "east", await configMapToken(east, "token-2"));
    await eventually("applied again with the new token", async () => {
      const o = await east.find<KubeObject & { data?: Record<string, string> }>(
        "v1",
        "ConfigMap",
        "probe",
        "kafka",
      );
      return o?.data?.["v"] === "2" ? true : undefined;
    });
    await eventually("ProviderConfig Ready again", async () =>
      (await statusOf("ProviderConfig", "east"))?.conditions?.some(
        (c) => c.type === "Ready" && c.status === "True",
      )
        ? true
        : undefined,
    );
  },
);
