/**
 * The ProviderConfig reconciler: says whether its cluster is reachable with
 * its credentials (condition Ready, the server's version, the last error),
 * warns when TLS verification is off by choice, counts the managed resources
 * that use it (their ProviderConfigUsages), and keeps a ProviderConfig that is
 * still in use from being deleted. No polling: it runs when the
 * ProviderConfig, its Secret, its usages or its cluster's watches change.
 */
import isEqual from "lodash/isEqual.js";
import type { Logger } from "pino";
import { groups, type Condition, type ProviderConfig } from "../../apis/index.ts";
import type { DynamicClient, KubeObject } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import type { InformerHealth } from "../kube/informer.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import type { RemoteClients } from "./clients.ts";
import { mergeConditions } from "./conditions.ts";
import { CredentialsError } from "./credentials.ts";
import { fieldManager } from "./reconciler.ts";

/** Crossplane's finalizer for a ProviderConfig in use. */
export const inUseFinalizer = "in-use.crossplane.io";

export interface ProviderConfigDeps {
  central: Pick<DynamicClient, "apply">;
  clients: Pick<RemoteClients, "get" | "providerConfig">;
  /** Health of the cluster's watches, if any are open. */
  health(providerConfig: string): InformerHealth | undefined;
  /** The managed resources (kind/name) whose usages name this ProviderConfig. */
  users(providerConfig: string): string[];
  now(): string;
  log: Logger;
  /**
   * How long a change of `status.users` alone waits before it is written
   * (default 5000 ms), going with whatever else changes meanwhile. The count
   * is for people; what guards a ProviderConfig in use is the live count. A
   * claim composing in a cluster for the first time requires its
   * ProviderConfig until Crossplane reconciles it again, about a second
   * later, and Crossplane's XR circuit breaker counts every write of a
   * required object against the claim's composite (ADR 0026).
   */
  usersDelayMs?: number;
}

type Cond = Omit<Condition, "lastTransitionTime">;

type Compared = Pick<
  NonNullable<ProviderConfig["status"]>,
  "conditions" | "serverVersion" | "lastError"
>;

/**
 * Whether a ProviderConfig's status, as stored, says what `next` says but for
 * its users count. Compared by value: the API server gives back an object's
 * fields in its own order (a condition's keys sorted), so a comparison of the
 * serialized text saw a change on every pass and the users count was written
 * at once, never after `usersDelayMs`.
 */
export function sameButUsers(stored: Compared, next: Compared): boolean {
  return (
    isEqual(stored.conditions ?? [], next.conditions ?? []) &&
    stored.serverVersion === next.serverVersion &&
    stored.lastError === next.lastError
  );
}

/** Why a cluster does not serve us: it refuses these credentials, or it does not answer. */
function refusal(lastError: string): string {
  if (/: 401 /.test(lastError)) return "Unauthorized";
  if (/: 403 /.test(lastError)) return "Forbidden";
  return "Unreachable";
}

export class ProviderConfigReconciler {
  private readonly versions = new Map<string, { fingerprint: string; version: string }>();
  /** When a change of the users count alone was first seen, by ProviderConfig. */
  private readonly usersChanged = new Map<string, number>();

  constructor(private readonly deps: ProviderConfigDeps) {}

  /** Forgets what was verified about a ProviderConfig's cluster, so the next reconcile asks it again. */
  forget(name: string): void {
    this.versions.delete(name);
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const pc = this.deps.clients.providerConfig(name);
    if (!pc) return undefined;
    const users = this.deps.users(name);
    if (pc.metadata.deletionTimestamp) {
      if (users.length > 0) {
        await this.report(
          pc,
          [
            {
              type: "Ready",
              status: "False",
              reason: "InUse",
              message: `${users.length} managed resource(s) still use this ProviderConfig, e.g. ${users[0] ?? ""}; delete them first`,
            },
          ],
          { users: users.length },
        );
        return undefined;
      }
      await this.deps.central.apply(
        { apiVersion: groups.remote, kind: "ProviderConfig", metadata: { name, finalizers: [] } },
        { fieldManager },
      );
      return undefined;
    }
    if (!pc.metadata.finalizers?.includes(inUseFinalizer)) {
      await this.deps.central.apply(
        {
          apiVersion: groups.remote,
          kind: "ProviderConfig",
          metadata: { name, finalizers: [inUseFinalizer] },
        },
        { fieldManager },
      );
    }

    const conditions: Cond[] = [];
    let lastError: string | undefined;
    let serverVersion: string | undefined = pc.status?.serverVersion;
    try {
      const remote = await this.deps.clients.get(name);
      conditions.push(
        remote.warning
          ? {
              type: "InsecureTLS",
              status: "True",
              reason: "VerificationDisabled",
              message: remote.warning,
            }
          : { type: "InsecureTLS", status: "False", reason: "VerificationEnabled" },
      );
      const health = this.deps.health(name);
      if (health && !health.connected && health.lastError) {
        lastError = `cannot reach ${remote.server}: ${health.lastError}`;
      } else {
        const known = this.versions.get(name);
        if (known?.fingerprint === remote.fingerprint) {
          serverVersion = known.version;
        } else {
          try {
            const v = await remote.client.request<{ gitVersion?: string }>("GET", "/version");
            serverVersion = v.gitVersion ?? "unknown";
            this.versions.set(name, { fingerprint: remote.fingerprint, version: serverVersion });
          } catch (err) {
            lastError = `cannot reach ${remote.server}: ${describeError(err)}`;
          }
        }
      }
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      lastError = err.message;
      conditions.push({
        type: "Ready",
        status: "False",
        reason: "InvalidCredentials",
        message: err.message,
      });
    }
    if (!conditions.some((c) => c.type === "Ready")) {
      conditions.push(
        lastError
          ? { type: "Ready", status: "False", reason: refusal(lastError), message: lastError }
          : {
              type: "Ready",
              status: "True",
              reason: "Available",
              message: `reachable, Kubernetes ${serverVersion ?? "unknown"}`,
            },
      );
    }
    const wait = await this.report(
      pc,
      conditions,
      {
        users: users.length,
        ...(serverVersion ? { serverVersion } : {}),
        ...(lastError ? { lastError } : {}),
      },
      true,
    );
    // Not reachable: look again soon (watches that recover also bring it back).
    return lastError
      ? { requeueAfterMs: 10_000 }
      : wait !== undefined
        ? { requeueAfterMs: wait }
        : undefined;
  }

  /**
   * Writes the status if it changed; with `usersMayWait`, a change of the
   * users count alone waits out `usersDelayMs` first (the milliseconds left
   * are returned, and nothing is written).
   */
  private async report(
    pc: ProviderConfig,
    updates: Cond[],
    fields: Record<string, unknown>,
    usersMayWait = false,
  ): Promise<number | undefined> {
    const conditions = mergeConditions(
      pc.status?.conditions,
      updates,
      this.deps.now(),
      pc.metadata.generation,
    );
    const status = { ...fields, conditions, observedGeneration: pc.metadata.generation };
    const old = pc.status ?? {};
    const rest = sameButUsers(old, status);
    const name = pc.metadata.name ?? "";
    if (rest && old.users === fields["users"]) {
      this.usersChanged.delete(name);
      return undefined;
    }
    if (rest && usersMayWait) {
      const now = Date.now();
      const since = now - (this.usersChanged.get(name) ?? now);
      if (!this.usersChanged.has(name)) this.usersChanged.set(name, now);
      const delay = this.deps.usersDelayMs ?? 5000;
      if (since < delay) return delay - since;
    }
    this.usersChanged.delete(name);
    const obj: KubeObject = {
      apiVersion: groups.remote,
      kind: "ProviderConfig",
      metadata: { name },
      status,
    };
    await this.deps.central.apply(obj, { fieldManager, subresource: "status", force: true });
    return undefined;
  }
}
