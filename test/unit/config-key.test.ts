/**
 * Config keys (ADR 0020): a legacy ProviderConfig keeps its bare name, the v2
 * shape's kinds are told apart by kind and namespace, and a namespaced
 * ProviderConfig reads Secrets of its own namespace only.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { groups } from "../../apis/index.ts";
import {
  configKey,
  configRefOf,
  describeConfig,
  parseConfigKey,
  secretRefusal,
  type ConfigRef,
} from "../../controller/provider/config-key.ts";

const legacy: ConfigRef = { kind: "LegacyProviderConfig", name: "east" };
const cluster: ConfigRef = { kind: "ClusterProviderConfig", name: "east" };
const namespaced: ConfigRef = { kind: "ProviderConfig", namespace: "team-a", name: "east" };
const refs = [legacy, cluster, namespaced];

test("each kind of config has its own key, the legacy one its bare name, and a key reads back as its reference", () => {
  assert.deepEqual(refs.map(configKey), [
    "east",
    "ClusterProviderConfig/east",
    "ProviderConfig/team-a/east",
  ]);
  for (const r of refs) assert.deepEqual(parseConfigKey(configKey(r)), r);
  assert.deepEqual(refs.map(describeConfig), [
    'ProviderConfig "east"',
    'ClusterProviderConfig "east"',
    "ProviderConfig team-a/east",
  ]);
});

test("a key that is none of them is refused, saying what a key is", () => {
  for (const bad of [
    "",
    "ProviderConfig/east",
    "Other/east",
    "ClusterProviderConfig/a/b",
    "a/b/c/d",
  ])
    assert.throws(
      () => parseConfigKey(bad),
      /is not a config key: a ProviderConfig's name, ClusterProviderConfig\/<name> or ProviderConfig\/<namespace>\/<name>/,
    );
});

test("a managed resource's config: legacy by name; a .m. one by kind, a ProviderConfig of its own namespace", () => {
  const mr = (apiVersion: string, providerConfigRef: { name: string; kind?: string }) => ({
    apiVersion,
    metadata: { namespace: "team-a" },
    spec: { providerConfigRef },
  });
  assert.deepEqual(configRefOf(mr(groups.remote, { name: "east" })), legacy);
  assert.deepEqual(
    configRefOf(mr(groups.namespacedRemote, { kind: "ClusterProviderConfig", name: "east" })),
    cluster,
  );
  assert.deepEqual(
    configRefOf(mr(groups.namespacedRemote, { kind: "ProviderConfig", name: "east" })),
    namespaced,
  );
});

test("a namespaced ProviderConfig may name a Secret of its own namespace only; the others any", () => {
  const own = { namespace: "team-a", name: "east-credentials" };
  const platform = { namespace: "stretch-kafka-system", name: "east-credentials" };
  assert.equal(secretRefusal(namespaced, own), undefined);
  assert.match(
    secretRefusal(namespaced, platform) ?? "",
    /^ProviderConfig team-a\/east names Secret stretch-kafka-system\/east-credentials; a ProviderConfig in namespace team-a may only name a Secret of its own namespace: move the Secret to team-a, or use a ClusterProviderConfig/,
  );
  assert.equal(secretRefusal(legacy, platform), undefined);
  assert.equal(secretRefusal(cluster, platform), undefined);
});
