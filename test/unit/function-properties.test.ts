/**
 * Properties of the function over random topologies: ids, quorum,
 * certificates vs. addresses, per-cluster isolation of secrets, ownership by
 * the anchor, determinism, and stability under reordering and scaling.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import cloneDeep from "lodash/cloneDeep.js";
import { render, toYamlStream, type KubeObject } from "../../functions/render.ts";
import type { ClusterSpec, NodePoolSpec, StretchKafkaSpec } from "../../apis/index.ts";
import { parseProperties } from "../../devbed/kafka/tools.ts";
import { composeFrozen } from "./frozen.ts";

type Provider = StretchKafkaSpec["networking"]["provider"];

interface Mr extends KubeObject {
  spec: {
    providerConfigRef: { name: string };
    deletionPolicy: string;
    forProvider: {
      manifest: KubeObject & { data?: Record<string, string>; spec?: Record<string, unknown> };
      ownerAnchor?: { name: string };
      certificate?: {
        dnsNames?: string[];
        ipAddresses?: string[];
        keys?: { certificate?: string };
      };
    };
  };
}

const roleSets: NodePoolSpec["roles"][] = [["controller"], ["broker"], ["controller", "broker"]];

const clusterNames = ["ams", "ber", "cdg", "dub", "fra", "lis", "mad"];

/** A topology that can form a quorum: controllers in the first three clusters, brokers somewhere. */
const specArb = fc
  .record({
    clusters: fc.integer({ min: 3, max: 7 }),
    provider: fc.constantFrom<Provider>("mcs", "cilium", "istio", "nodeport", "loadbalancer"),
    mode: fc.constantFrom<"static" | "dynamic">("static", "dynamic"),
    pools: fc.array(
      fc.array(
        fc.record({
          roles: fc.integer({ min: 0, max: 2 }),
          replicas: fc.integer({ min: 0, max: 3 }),
        }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      { minLength: 7, maxLength: 7 },
    ),
  })
  .map(({ clusters, provider, mode, pools }) => {
    const list = clusterNames.slice(0, clusters).map((name, i) => {
      const nodePools = (pools[i] ?? []).map((p, j) => ({
        name: `pool${j}`,
        roles: [...(roleSets[p.roles] ?? ["broker"])],
        replicas: p.replicas,
      }));
      if (i < 3) nodePools.push({ name: "ctrl", roles: ["controller"], replicas: 1 });
      if (i === 0) nodePools.push({ name: "brk", roles: ["broker"], replicas: 1 });
      const cluster = {
        name,
        providerConfigRef: { name },
        ...(provider === "nodeport" ? { externalAddress: `${name}.example.net` } : {}),
        nodePools,
      };
      return cluster as ClusterSpec;
    });
    const [first, ...rest] = list;
    assert.ok(first);
    const spec: StretchKafkaSpec = {
      kafka: { version: "4.3.1" },
      networking: { provider },
      quorum: { mode },
      clusters: [first, ...rest],
    };
    return spec;
  });

function xrOf(spec: StretchKafkaSpec, status?: unknown): KubeObject {
  return {
    apiVersion: "stretchkafka.dev/v1alpha1",
    kind: "XStretchKafka",
    metadata: { name: "prop", uid: "3b0c1f5e-0000-4000-8000-000000000001" },
    spec,
    ...(status ? { status } : {}),
  };
}

function providerConfigs(spec: StretchKafkaSpec): KubeObject[] {
  return spec.clusters.map((c) => ({
    apiVersion: "remote.stretchkafka.dev/v1alpha1",
    kind: "ProviderConfig",
    metadata: { name: c.providerConfigRef.name },
  }));
}

/** What a remote cluster would report for the external Services (node ports, load balancers). */
function observedAddresses(mrs: Mr[]): KubeObject[] {
  return mrs
    .filter(
      (m) =>
        m.kind === "RemoteService" &&
        (m.spec.forProvider.manifest.metadata.name ?? "").endsWith("-external"),
    )
    .map((m) => {
      // A Service keeps its node ports and address: derive them from its name.
      const n = Number(
        m.spec.forProvider.manifest.metadata.name?.match(/-(\d+)-external$/)?.[1] ?? 0,
      );
      const ports = (
        m.spec.forProvider.manifest.spec?.["ports"] as { name: string; port: number }[]
      ).map((p, i) => ({ ...p, nodePort: 30000 + n * 10 + i }));
      return {
        ...m,
        status: {
          atProvider: {
            ports,
            loadBalancerIngress: [{ ip: `192.0.${String(n >> 8)}.${String(n & 255)}` }],
          },
        },
      };
    });
}

/** Renders, and renders again with the external addresses observed when the provider needs them. */
function renderAll(spec: StretchKafkaSpec, status?: unknown): { xr: KubeObject; mrs: Mr[] } {
  const first = render(xrOf(spec, status), [], providerConfigs(spec), composeFrozen);
  const external = observedAddresses(first.slice(1) as Mr[]);
  const out =
    external.length > 0
      ? render(xrOf(spec, status), external, providerConfigs(spec), composeFrozen)
      : first;
  const [xr, ...mrs] = out;
  assert.ok(xr);
  return { xr, mrs: mrs as Mr[] };
}

function clusterOf(m: Mr): string {
  return m.metadata.labels?.["stretchkafka.dev/cluster"] ?? "";
}

interface NodeView {
  cluster: string;
  pod: string;
  config: Map<string, string>;
}

function nodes(mrs: Mr[]): NodeView[] {
  return mrs
    .filter(
      (m) => m.kind === "RemoteConfigMap" && m.spec.forProvider.manifest.data?.["server.config"],
    )
    .map((m) => ({
      cluster: clusterOf(m),
      pod: m.spec.forProvider.manifest.metadata.name ?? "",
      config: parseProperties(m.spec.forProvider.manifest.data?.["server.config"] ?? ""),
    }));
}

function hostsOf(
  listenersValue: string | undefined,
): { listener: string; host: string; port: string }[] {
  return (listenersValue ?? "")
    .split(",")
    .filter(Boolean)
    .map((l) => {
      const m = /^([^:]+):\/\/(.+):(\d+)$/.exec(l);
      assert.ok(m, `malformed listener ${l}`);
      return { listener: m[1] ?? "", host: m[2] ?? "", port: m[3] ?? "" };
    });
}

function totalReplicas(spec: StretchKafkaSpec): number {
  return spec.clusters.flatMap((c) => c.nodePools).reduce((s, p) => s + p.replicas, 0);
}

const runs = { numRuns: 40 };

test("node ids are unique, one per replica, and every node is configured", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const { xr, mrs } = renderAll(spec);
      const ids = (
        xr["status"] as { nodeIds: { pools: { ids: number[] }[] } }
      ).nodeIds.pools.flatMap((p) => p.ids);
      assert.equal(new Set(ids).size, ids.length);
      assert.equal(ids.length, totalReplicas(spec));
      const configured = nodes(mrs).map((n) => Number(n.config.get("node.id")));
      assert.deepEqual(
        [...configured].sort((a, b) => a - b),
        [...ids].sort((a, b) => a - b),
      );
    }),
    runs,
  );
});

test("the quorum is exactly the controllers, on every node", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const all = nodes(renderAll(spec).mrs);
      const controllers = all.filter((n) => n.config.get("process.roles")?.includes("controller"));
      const ids = controllers.map((n) => n.config.get("node.id")).sort();
      for (const n of all) {
        if (spec.quorum?.mode === "dynamic") {
          assert.equal(n.config.get("controller.quorum.voters"), undefined);
          const bootstrap = (n.config.get("controller.quorum.bootstrap.servers") ?? "").split(",");
          assert.equal(bootstrap.length, controllers.length);
        } else {
          const voters = (n.config.get("controller.quorum.voters") ?? "")
            .split(",")
            .map((v) => v.split("@")[0]);
          assert.deepEqual([...voters].sort(), ids);
        }
      }
    }),
    runs,
  );
});

test("every advertised address is in the node's certificate and served by a networking object", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const { mrs } = renderAll(spec);
      const provider = spec.networking.provider;
      for (const n of nodes(mrs)) {
        const cert = mrs.find(
          (m) =>
            m.kind === "RemoteSecret" &&
            clusterOf(m) === n.cluster &&
            m.spec.forProvider.manifest.metadata.name === n.pod,
        )?.spec.forProvider.certificate;
        assert.ok(cert, `no certificate for ${n.pod}`);
        const names = new Set([...(cert.dnsNames ?? []), ...(cert.ipAddresses ?? [])]);
        const advertised = hostsOf(n.config.get("advertised.listeners"));
        const voters = (n.config.get("controller.quorum.voters") ?? "")
          .split(",")
          .filter(Boolean)
          .map((v) => v.slice(v.indexOf("@") + 1));
        for (const a of advertised) {
          assert.ok(names.has(a.host), `${n.pod}: ${a.host} not in its certificate`);
          const served = mrs.filter((m) => {
            const name = m.spec.forProvider.manifest.metadata.name ?? "";
            if (provider === "mcs")
              return (
                m.kind === "RemoteServiceExport" &&
                a.host.includes(`.${name}.`) &&
                clusterOf(m) === n.cluster
              );
            if (provider === "cilium" || provider === "istio")
              return m.kind === "RemoteService" && name === n.pod;
            const ports = (m.spec.forProvider.manifest.spec?.["ports"] ?? []) as unknown[];
            return (
              m.kind === "RemoteService" &&
              name === `${n.pod}-external` &&
              clusterOf(m) === n.cluster &&
              ports.length > 0
            );
          });
          assert.ok(served.length > 0, `${n.pod}: nothing serves ${a.host}`);
          if (provider === "cilium" || provider === "istio") {
            assert.equal(
              new Set(served.map(clusterOf)).size,
              spec.clusters.length,
              `${n.pod}: not resolvable in every cluster`,
            );
          }
        }
        // Voters named on this node are other nodes' advertised control-plane addresses.
        assert.ok(voters.every((v) => v.includes(":")));
      }
    }),
    runs,
  );
});

test("a cluster holds only its own nodes' secrets, and pods read only those", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const { mrs } = renderAll(spec);
      const home = new Map(nodes(mrs).map((n) => [n.pod, n.cluster]));
      for (const m of mrs) {
        const cluster = clusterOf(m);
        const manifest = m.spec.forProvider.manifest;
        if (m.kind === "RemoteSecret" && m.spec.forProvider.certificate) {
          assert.equal(
            home.get(manifest.metadata.name ?? ""),
            cluster,
            `${manifest.metadata.name ?? ""} in ${cluster}`,
          );
        }
        if (m.kind === "RemoteConfigMap" && manifest.data?.["server.config"]) {
          const refs = [
            ...manifest.data["server.config"].matchAll(/\$\{strimzisecrets:[^/]+\/([^:]+):/g),
          ].map((r) => r[1]);
          for (const r of refs)
            assert.ok(
              r === manifest.metadata.name || r === "prop-cluster-ca-cert",
              `${manifest.metadata.name ?? ""} reads ${r ?? ""}`,
            );
        }
        if (m.kind === "RemoteRole") {
          const names = (
            (manifest["rules"] as { resourceNames: string[] }[])[0]?.resourceNames ?? []
          ).filter((n) => !n.endsWith("-ca-cert"));
          for (const n of names) assert.equal(home.get(n), cluster);
        }
        if (m.kind === "RemoteStrimziPodSet") {
          for (const pod of (manifest.spec?.["pods"] ?? []) as KubeObject[])
            assert.equal(home.get(pod.metadata.name ?? ""), cluster);
        }
      }
    }),
    runs,
  );
});

test("every remote object is owned by its cluster's anchor, except the anchor and kept volumes", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const { mrs } = renderAll(spec);
      for (const c of spec.clusters) {
        const anchors = mrs.filter(
          (m) =>
            clusterOf(m) === c.name &&
            m.kind === "RemoteConfigMap" &&
            !m.spec.forProvider.ownerAnchor,
        );
        assert.deepEqual(
          anchors.map((a) => a.spec.forProvider.manifest.metadata.name),
          ["prop-stretch-anchor"],
        );
      }
      for (const m of mrs) {
        const owner = m.spec.forProvider.ownerAnchor?.name;
        const isAnchor = m.spec.forProvider.manifest.metadata.name === "prop-stretch-anchor";
        const keptVolume =
          m.kind === "RemotePersistentVolumeClaim" && m.spec.deletionPolicy === "Orphan";
        if (isAnchor || keptVolume) assert.equal(owner, undefined);
        else assert.equal(owner, "prop-stretch-anchor", `${m.kind} ${m.metadata.name ?? ""}`);
        assert.equal(m.spec.providerConfigRef.name, clusterOf(m));
      }
    }),
    runs,
  );
});

test("rendering is deterministic: the same request gives byte-identical output", () => {
  fc.assert(
    fc.property(specArb, (spec) => {
      const a = renderAll(spec);
      const b = renderAll(cloneDeep(spec));
      assert.equal(toYamlStream([a.xr, ...a.mrs]), toYamlStream([b.xr, ...b.mrs]));
    }),
    { numRuns: 20 },
  );
});

test("node ids and objects survive reordering clusters and pools, and a fresh run over status", () => {
  fc.assert(
    fc.property(specArb, fc.integer({ min: 1, max: 6 }), (spec, shift) => {
      const first = renderAll(spec);
      const status = first.xr["status"];
      const reordered = cloneDeep(spec);
      // Rotate the clusters: the last `shift` move to the front.
      for (let i = 0; i < shift % spec.clusters.length; i++) {
        const last = reordered.clusters.pop();
        if (last) reordered.clusters.unshift(last);
      }
      for (const c of reordered.clusters) c.nodePools.reverse();
      const again = renderAll(reordered, status);
      const byName = (mrs: Mr[]): Map<string, string> =>
        new Map(mrs.map((m) => [m.metadata.name ?? "", JSON.stringify(m.spec)]));
      assert.deepEqual(byName(again.mrs), byName(first.mrs));
      assert.deepEqual(
        (again.xr["status"] as { nodeIds: unknown }).nodeIds,
        (status as { nodeIds: unknown }).nodeIds,
      );
    }),
    { numRuns: 25 },
  );
});

function revisions(mrs: Mr[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of mrs.filter((x) => x.kind === "RemoteStrimziPodSet")) {
    for (const pod of (m.spec.forProvider.manifest.spec?.["pods"] ?? []) as KubeObject[]) {
      out.set(pod.metadata.name ?? "", pod.metadata.annotations?.["strimzi.io/revision"] ?? "");
    }
  }
  return out;
}

test("scaling a broker pool up restarts no running node and gives the new node a fresh id", () => {
  fc.assert(
    fc.property(specArb, fc.nat(), (spec, pick) => {
      const before = renderAll(spec);
      const status = before.xr["status"] as { nodeIds: { next: number } };
      const grown = cloneDeep(spec);
      // Replication defaults depend on the number of clusters with brokers (and, with
      // brokers in one cluster only, on their count): a scale-up that changes them rightly
      // restarts everyone, so the property covers stretched topologies, growing where
      // brokers already run.
      const brokerClusters = spec.clusters.filter((c) =>
        c.nodePools.some((p) => p.roles.includes("broker") && p.replicas > 0),
      ).length;
      fc.pre(brokerClusters >= 2);
      const brokerPools = grown.clusters
        .filter((c) => c.nodePools.some((p) => p.roles.includes("broker") && p.replicas > 0))
        .flatMap((c) => c.nodePools.filter((p) => p.roles.join() === "broker"));
      const pool = brokerPools[pick % brokerPools.length];
      assert.ok(pool);
      pool.replicas += 1;
      const after = renderAll(grown, status);
      const was = revisions(before.mrs);
      const now = revisions(after.mrs);
      for (const [pod, rev] of was) assert.equal(now.get(pod), rev, `${pod} would restart`);
      const added = [...now.keys()].filter((p) => !was.has(p));
      assert.deepEqual(
        added.map((p) => Number(p.split("-").pop())),
        [status.nodeIds.next],
      );
    }),
    runs,
  );
});

test("dynamic quorum: adding a controller restarts no running node", () => {
  fc.assert(
    fc.property(
      specArb.filter((s) => s.quorum?.mode === "dynamic"),
      fc.nat(),
      (spec, pick) => {
        const before = renderAll(spec);
        const grown = cloneDeep(spec);
        const c = grown.clusters[pick % grown.clusters.length];
        assert.ok(c);
        c.nodePools.push({ name: "extra", roles: ["controller"], replicas: 1 });
        // A second controller in one cluster may leave the quorum unable to
        // survive losing that cluster: consent, since restarts are the point here.
        grown.quorum = { ...grown.quorum, acceptQuorumRisk: true };
        const after = renderAll(grown, before.xr["status"]);
        const now = revisions(after.mrs);
        for (const [pod, rev] of revisions(before.mrs))
          assert.equal(now.get(pod), rev, `${pod} would restart`);
      },
    ),
    { numRuns: 25 },
  );
});
