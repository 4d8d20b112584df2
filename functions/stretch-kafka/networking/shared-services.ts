/**
 * Cilium Cluster Mesh and Istio (namespace sameness): a Service named after
 * each pod exists in every cluster, so <pod>.<namespace>.svc.<cluster domain>
 * resolves everywhere and the mesh routes it to the one cluster that has the
 * pod. Cilium merges same-named Services marked global; Istio merges them by
 * namespace sameness.
 */
import type { ClusterPlan, KafkaNode } from "../topology.ts";
import type { RemoteObject } from "../resources/remote-object.ts";
import { containerPorts, localNames, perNodeService } from "./common.ts";
import type { NetworkingContext, NetworkingProvider } from "./provider.ts";

function host(ctx: NetworkingContext, node: KafkaNode): string {
  return `${node.podName}.${ctx.topology.namespace}.svc.${ctx.networking.clusterDomain}`;
}

function sharedServices(
  name: "cilium" | "istio",
  annotationsFor: (cluster: ClusterPlan, node: KafkaNode) => Record<string, string> | undefined,
): NetworkingProvider {
  return {
    name,
    nodeAddress(ctx, node) {
      return { address: { host: host(ctx, node), ports: containerPorts() } };
    },
    certificateNames(ctx, node) {
      const ns = ctx.topology.namespace;
      return {
        dnsNames: [
          host(ctx, node),
          `${node.podName}.${ns}.svc`,
          `${node.podName}.${ns}`,
          ...localNames(ctx, node),
        ],
        ipAddresses: [],
      };
    },
    objects(ctx, cluster): RemoteObject[] {
      // Every node's Service in every cluster: the mesh needs the name everywhere.
      return ctx.topology.nodes.map((node) => {
        const a = annotationsFor(cluster, node);
        return perNodeService(
          ctx,
          cluster,
          node,
          { type: "ClusterIP" },
          a ? { annotations: a } : {},
        );
      });
    },
    clusterSetBootstrap() {
      return undefined;
    },
  };
}

export const cilium = sharedServices("cilium", (cluster, node) => ({
  "service.cilium.io/global": "true",
  // Clusters without the pod contribute no endpoints; say so explicitly.
  ...(cluster.name === node.cluster ? {} : { "service.cilium.io/shared": "false" }),
}));

export const istio = sharedServices("istio", () => undefined);
