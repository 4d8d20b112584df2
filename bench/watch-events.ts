/** What the benchmarks count of Crossplane's XR watch circuit breaker's input. */
import type { DynamicClient } from "../controller/kube/dynamic.ts";
import { kinds } from "../controller/provider/kinds.ts";

export /** Counts watch events of every managed resource labelled with the claim, until stopped. */
function countEvents(
  kubeconfig: () => DynamicClient,
  claim: string,
): { count: () => number; stop: () => void } {
  const ac = new AbortController();
  let n = 0;
  for (const k of kinds) {
    // One client per watch: a watch holds its connection.
    const client = kubeconfig();
    void client
      .watch(k.apiVersion, k.kind, {
        labelSelector: `crossplane.io/claim-name=${claim}`,
        resourceVersion: "0",
        timeoutSeconds: 600,
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type !== "BOOKMARK") n++;
        },
      })
      .catch(() => undefined)
      .finally(() => {
        void client.close();
      });
  }
  return {
    count: () => n,
    stop: () => {
      ac.abort();
    },
  };
}
