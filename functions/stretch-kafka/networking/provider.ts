/**
 * The networking-provider interface. One provider per Kafka cluster, chosen in
 * the claim: it says how a node is reached from the other clusters (for
 * listeners, the quorum and certificate names) and which networking objects
 * each cluster needs for that.
 */
import type { NetworkingSpec, RemoteServiceAtProvider } from "../../../apis/index.ts";
import type { ListenerKey } from "../ports.ts";
import type { ClusterPlan, KafkaNode, Topology } from "../topology.ts";
import type { RemoteObject } from "../resources/remote-object.ts";

/** Where a node is reached from anywhere in the stretch cluster. */
export interface NodeAddress {
  host: string;
  /** Port per listener as seen by peers and clients (may differ from the container port). */
  ports: Record<ListenerKey, number>;
}

export interface NetworkingContext {
  topology: Topology;
  networking: Required<Pick<NetworkingSpec, "clusterDomain" | "clusterSetDomain">> & NetworkingSpec;
  /** What the provider reported back for a Service it created, if anything yet. */
  observedService(cluster: string, name: string): RemoteServiceAtProvider | undefined;
}

export type AddressResult = { address: NodeAddress } | { pending: string };

export interface NetworkingProvider {
  readonly name: NetworkingSpec["provider"];
  /** The node's address, or why it is not known yet. */
  nodeAddress(ctx: NetworkingContext, node: KafkaNode): AddressResult;
  /** DNS names and IPs by which a node is reached; its certificate must cover all of them. */
  certificateNames(
    ctx: NetworkingContext,
    node: KafkaNode,
  ): { dnsNames: string[]; ipAddresses: string[] };
  /** Networking objects this provider needs in one cluster. */
  objects(ctx: NetworkingContext, cluster: ClusterPlan): RemoteObject[];
  /** Bootstrap address clients in any cluster can use, if the provider has one. */
  clusterSetBootstrap(ctx: NetworkingContext): string | undefined;
}
