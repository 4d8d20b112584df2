/** The networking providers, by the name a claim uses. */
import type { NetworkingSpec } from "../../../apis/index.ts";
import { loadbalancer, nodeport } from "./external.ts";
import { mcs } from "./mcs.ts";
import type { NetworkingProvider } from "./provider.ts";
import { cilium, istio } from "./shared-services.ts";

export const providers: Record<NetworkingSpec["provider"], NetworkingProvider> = {
  mcs,
  cilium,
  istio,
  nodeport,
  loadbalancer,
};

export type {
  NetworkingProvider,
  NetworkingContext,
  NodeAddress,
  AddressResult,
} from "./provider.ts";
