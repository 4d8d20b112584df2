/**
 * YAML for what Kubernetes and Crossplane read. They parse with YAML 1.1
 * rules (sigs.k8s.io/yaml, go-yaml v2), where an unquoted `Off`, `on`, `yes`
 * or `n` is a boolean; the `yaml` package writes 1.2, where they are strings.
 * Written as 1.1, every such string is quoted, so both read the same.
 */
import {
  stringify,
  type CreateNodeOptions,
  type DocumentOptions,
  type ToStringOptions,
} from "yaml";

export function manifestYaml(
  doc: unknown,
  options: DocumentOptions & CreateNodeOptions & ToStringOptions = {},
): string {
  return stringify(doc, { ...options, version: "1.1" });
}
