/**
 * Reading a test API server's audit log (startTestBed's auditServiceAccounts):
 * what one identity asked for, and matching that against RBAC rules, to show
 * that a set of rules is both enough (nothing refused) and no more than what
 * is used (every granted verb was asked for).
 */
import { readFileSync } from "node:fs";

/** One resource request as the API server audited it. */
export interface AuditedRequest {
  verb: string;
  /** API group, "" for the core group. */
  group: string;
  /** Resource, with "/subresource" when there is one (e.g. "leases", "stretchkafkas/status"). */
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
  /** HTTP status of the answer. */
  code: number;
  /** RBAC's decision: "allow" or "forbid". */
  decision: string;
  uri: string;
}

interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user?: { username?: string };
  objectRef?: {
    apiGroup?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

/**
 * Every request `username` made, resource requests only (discovery and other
 * paths are left out). A patch that created its object is listed a second
 * time as a create, the permission the API server also checked for it.
 */
export function auditedRequests(path: string, username: string): AuditedRequest[] {
  const out: AuditedRequest[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line) as AuditEvent;
    // A watch is audited when it starts and when it ends; one is enough.
    if (e.user?.username !== username || e.stage === "ResponseStarted") continue;
    const ref = e.objectRef;
    if (!ref?.resource) continue;
    const request: AuditedRequest = {
      verb: e.verb,
      group: ref.apiGroup ?? "",
      resource: ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource,
      namespace: ref.namespace,
      name: ref.name,
      code: e.responseStatus?.code ?? 0,
      decision: e.annotations?.["authorization.k8s.io/decision"] ?? "",
      uri: e.requestURI,
    };
    out.push(request);
    // A server-side apply that creates its object (201) is authorized as a
    // create too, inside the handler, which the audit event does not show.
    if (request.verb === "patch" && request.code === 201) out.push({ ...request, verb: "create" });
  }
  return out;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Rules and where they apply: a Role's namespace, or everywhere for a ClusterRole. */
export interface Grant {
  source: string;
  namespace?: string;
  rules: PolicyRule[];
}

function allows(g: Grant, rule: PolicyRule, r: AuditedRequest): boolean {
  return (
    (g.namespace === undefined || g.namespace === r.namespace) &&
    rule.apiGroups.includes(r.group) &&
    rule.resources.includes(r.resource) &&
    rule.verbs.includes(r.verb) &&
    (rule.resourceNames === undefined ||
      (r.name !== undefined && rule.resourceNames.includes(r.name)))
  );
}

/** The requests no rule of `grants` allows. */
export function ungranted(grants: Grant[], requests: AuditedRequest[]): AuditedRequest[] {
  return requests.filter((r) => !grants.some((g) => g.rules.some((rule) => allows(g, rule, r))));
}

/**
 * Each verb on each resource a rule grants that no request used, as
 * "source: verb group/resource", e.g. "ClusterRole x: delete remote.stretchkafka.dev/remoteroles".
 */
export function unusedGrants(grants: Grant[], requests: AuditedRequest[]): string[] {
  const unused: string[] = [];
  for (const g of grants) {
    for (const rule of g.rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          for (const verb of rule.verbs) {
            const one: PolicyRule = {
              ...rule,
              apiGroups: [group],
              resources: [resource],
              verbs: [verb],
            };
            if (!requests.some((r) => allows(g, one, r)))
              unused.push(`${g.source}: ${verb} ${group || "core"}/${resource}`);
          }
        }
      }
    }
  }
  return unused;
}
