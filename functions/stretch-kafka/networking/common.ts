/** Pieces several networking providers share. */
import { bootstrapService, headlessService, labels } from "../names.ts";
import { listenerKeys, listeners, type ListenerKey } from "../ports.ts";
import type { Manifest, RemoteObject } from "../resources/remote-object.ts";
import type { ClusterPlan, KafkaNode, Topology } from "../topology.ts";
import type { NetworkingContext } from "./provider.ts";

export function containerPorts(): Record<ListenerKey, number> {
  return {
    controlplane: listeners.controlplane.port,
    replication: listeners.replication.port,
    plain: listeners.plain.port,
    tls: listeners.tls.port,
  };
}

/** Names a node has inside its own cluster (pod DNS through the headless service, bootstrap). */
export function localNames(ctx: NetworkingContext, node: KafkaNode): string[] {
  const { kafkaName: k, namespace: ns } = ctx.topology;
  const hs = headlessService(k);
  const bs = bootstrapService(k);
  return [
    `${node.podName}.${hs}.${ns}.svc`,
    `${node.podName}.${hs}.${ns}.svc.${ctx.networking.clusterDomain}`,
    bs,
    `${bs}.${ns}`,
    `${bs}.${ns}.svc`,
    `${bs}.${ns}.svc.${ctx.networking.clusterDomain}`,
  ];
}

export function servicePorts(keys: ListenerKey[] = listenerKeys): Record<string, unknown>[] {
  return keys.map((k) => ({
    name: listeners[k].portName,
    port: listeners[k].port,
    targetPort: listeners[k].port,
    protocol: "TCP",
    appProtocol: "tcp",
  }));
}

export function nodeSelector(t: Topology, node: KafkaNode): Record<string, string> {
  return { [labels.cluster]: t.kafkaName, [labels.podName]: node.podName };
}

/** A Service in front of one node, named after its pod. */
export function perNodeService(
  ctx: NetworkingContext,
  cluster: ClusterPlan,
  node: KafkaNode,
  spec: Record<string, unknown>,
  extra: { nameSuffix?: string; annotations?: Record<string, string> } = {},
): RemoteObject {
  const manifest: Manifest = {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: `${node.podName}${extra.nameSuffix ?? ""}`,
      namespace: ctx.topology.namespace,
      labels: { [labels.cluster]: ctx.topology.kafkaName, [labels.podName]: node.podName },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: { ports: servicePorts(), selector: nodeSelector(ctx.topology, node), ...spec },
  };
  return { cluster: cluster.name, kind: "RemoteService", manifest, ownedByAnchor: true };
}
