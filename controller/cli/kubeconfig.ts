/** The central cluster's kubeconfig as every command reads it. */
import { KubeConfig } from "@kubernetes/client-node";

/** The given file, else $KUBECONFIG, ~/.kube/config or the in-cluster service account. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}
