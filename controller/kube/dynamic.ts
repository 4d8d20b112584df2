/**
 * A dynamic Kubernetes client that sends and receives objects as raw JSON.
 *
 * client-node's typed KubernetesObjectApi passes known kinds through its model
 * serializer, which silently drops fields the models do not know (a CRD's
 * `x-kubernetes-int-or-string`, a field newer than the library). A provider that
 * applies arbitrary objects to remote clusters cannot lose fields, so every
 * write here is the object exactly as given. Auth and TLS still come from
 * client-node's KubeConfig; resources are found by discovery, cached per client.
 */
import { Agent, request, type RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject, KubeResource, ObjectMetadata, OwnerReference } from "../../apis/meta.ts";

/** KubeResource, what every object has, is the constraint of the generic methods (generated API types satisfy it). */
export type { KubeObject, KubeResource, ObjectMetadata, OwnerReference };

export interface KubeList<T extends KubeResource = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A failed API call with the Status the server sent. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly serverMessage: string,
    readonly details: unknown,
    context: string,
  ) {
    super(`${context}: ${code} ${reason}: ${serverMessage}`.trim());
    this.name = "KubeApiError";
  }
}

/** One event of a watch stream. ERROR events carry a Status in `object`. */
export interface WatchEvent<T extends KubeResource = KubeObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface ResourceInfo {
  /** e.g. /apis/core.strimzi.io/v1 or /api/v1 */
  base: string;
  plural: string;
  namespaced: boolean;
}

/** One finished API request, for metrics. Watches report when the stream ends. */
export interface RequestInfo {
  verb: string;
  /** HTTP status, or 0 when no answer came. */
  code: number;
  ms: number;
  watch: boolean;
}

export interface DynamicClientOptions {
  /** Per-request timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
  onRequest?: (info: RequestInfo) => void;
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/** The headers client-node's auth put on the options (bearer tokens, exec credentials). */
function headersOf(opts: RequestOptions): Record<string, string | string[] | number> {
  const out: Record<string, string | string[] | number> = {};
  if (!opts.headers || Array.isArray(opts.headers)) return out;
  for (const [k, v] of Object.entries(opts.headers)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Metadata only (PartialObjectMetadata): what a watcher of Secrets it wrote
 * needs, without their values ever reaching this process.
 */
const metadataOnly = {
  list: "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
  watch: "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
} as const;

export class DynamicClient {
  readonly server: string;
  private readonly agent: Promise<{ agent: Agent; watchAgent: Agent; opts: RequestOptions }>;
  private readonly discovery = new Map<string, Promise<ApiResourceList>>();
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly onRequest: ((info: RequestInfo) => void) | undefined;

  constructor(
    private readonly kc: KubeConfig,
    opts: DynamicClientOptions = {},
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.server = cluster.server.replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? "stretch-kafka";
    this.onRequest = opts.onRequest;
    this.agent = this.makeAgent();
  }

  /**
   * Two agents: requests share at most 32 connections; every watch has a
   * connection of its own for as long as it runs. Were watches to take from
   * the requests' pool, a process watching 32 kinds would queue every later
   * request forever (a queued request has no socket, so no timeout either).
   */
  private async makeAgent(): Promise<{ agent: Agent; watchAgent: Agent; opts: RequestOptions }> {
    const opts: RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    const cluster = this.kc.getCurrentCluster();
    const tls = {
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(cluster?.tlsServerName ? { servername: cluster.tlsServerName } : {}),
      rejectUnauthorized: !(cluster?.skipTLSVerify ?? false),
    };
    const agent = new Agent({ keepAlive: true, maxSockets: 32, ...tls });
    const watchAgent = new Agent({ keepAlive: false, ...tls });
    return { agent, watchAgent, opts };
  }

  /** Closes idle keep-alive connections and every watch. */
  async close(): Promise<void> {
    const { agent, watchAgent } = await this.agent;
    agent.destroy();
    watchAgent.destroy();
  }

  /** Sends one request; JSON in, JSON out. Throws KubeApiError for non-2xx answers. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
    timeoutMs = this.timeoutMs,
    accept = "application/json",
  ): Promise<T> {
    const { agent, opts } = await this.agent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const url = new URL(this.server + path);
    const started = performance.now();
    let code = 0;
    const report = (): void => {
      this.onRequest?.({ verb: method, code, ms: performance.now() - started, watch: false });
    };
    return new Promise<T>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent,
          headers: {
            ...headersOf(opts),
            Accept: accept,
            "User-Agent": this.userAgent,
            ...(payload !== undefined
              ? { "Content-Type": contentType, "Content-Length": Buffer.byteLength(payload) }
              : {}),
          },
          ...(opts.auth ? { auth: opts.auth } : {}),
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            code = res.statusCode ?? 0;
            report();
            if (code >= 200 && code < 300) {
              try {
                resolve((text ? JSON.parse(text) : {}) as T);
              } catch (cause) {
                reject(new Error(`${method} ${path}: response is not JSON`, { cause }));
              }
              return;
            }
            let status: { reason?: string; message?: string; details?: unknown } = {};
            try {
              status = JSON.parse(text) as typeof status;
            } catch {
              status = { message: text.trim() };
            }
            reject(
              new KubeApiError(
                code,
                status.reason ?? "",
                status.message ?? "",
                status.details,
                `${method} ${path}`,
              ),
            );
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`${method} ${this.server}${path}: timed out after ${timeoutMs}ms`)),
      );
      req.on("error", (cause) => {
        report();
        reject(new Error(`${method} ${this.server}${path} failed`, { cause }));
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Finds the REST resource of a kind by discovery (cached; refreshed once on a miss). */
  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    for (const refresh of [false, true]) {
      if (refresh) this.discovery.delete(base);
      let list = this.discovery.get(base);
      if (!list) {
        list = this.request<ApiResourceList>("GET", base);
        this.discovery.set(base, list);
        list.catch(() => this.discovery.delete(base));
      }
      let found;
      try {
        found = (await list).resources.find((r) => r.kind === kind && !r.name.includes("/"));
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404 && !refresh) continue;
        if (err instanceof KubeApiError && err.code === 404) break;
        throw err;
      }
      if (found) return { base, plural: found.name, namespaced: found.namespaced };
    }
    throw new KubeApiError(
      404,
      "NotFound",
      `the server has no resource for ${kind} in ${apiVersion}: is its CRD installed there?`,
      undefined,
      "discovery",
    );
  }

  /** Forgets discovery results (e.g. after installing CRDs). */
  forgetDiscovery(): void {
    this.discovery.clear();
  }

  async path(apiVersion: string, kind: string, namespace?: string, name?: string): Promise<string> {
    const r = await this.resource(apiVersion, kind);
    if (r.namespaced && !namespace)
      throw new Error(`${kind} is namespaced: a namespace is required`);
    const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
    const n = name ? `/${encodeURIComponent(name)}` : "";
    return `${r.base}${ns}/${r.plural}${n}`;
  }

  /** Server-side apply: the object as given becomes this field manager's intent. */
  async apply<T extends KubeResource>(
    obj: T,
    opts: {
      fieldManager: string;
      force?: boolean;
      dryRun?: boolean;
      subresource?: "status";
      /** Strict refuses unknown or duplicate fields instead of warning. */
      fieldValidation?: "Strict" | "Warn" | "Ignore";
    },
  ): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new Error(`cannot apply ${obj.kind} without metadata.name`);
    const q = new URLSearchParams({ fieldManager: opts.fieldManager });
    if (opts.force ?? true) q.set("force", "true");
    if (opts.dryRun) q.set("dryRun", "All");
    if (opts.fieldValidation) q.set("fieldValidation", opts.fieldValidation);
    const sub = opts.subresource ? `/${opts.subresource}` : "";
    const path = await this.path(obj.apiVersion, obj.kind, obj.metadata.namespace, name);
    return this.request<T>(
      "PATCH",
      `${path}${sub}?${q.toString()}`,
      obj,
      "application/apply-patch+yaml",
    );
  }

  /** A JSON merge patch (null removes a field), e.g. of metadata another manager's apply would not touch. */
  async mergePatch<T extends KubeResource = KubeObject>(
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string | undefined,
    patch: object,
    opts: { subresource?: "status"; fieldManager?: string } = {},
  ): Promise<T> {
    const sub = opts.subresource ? `/${opts.subresource}` : "";
    const q = opts.fieldManager
      ? `?${new URLSearchParams({ fieldManager: opts.fieldManager }).toString()}`
      : "";
    return this.request<T>(
      "PATCH",
      `${await this.path(apiVersion, kind, namespace, name)}${sub}${q}`,
      patch,
      "application/merge-patch+json",
    );
  }

  /** Creates an object; a 409 says it exists already. */
  async create<T extends KubeResource>(obj: T): Promise<T> {
    return this.request<T>(
      "POST",
      await this.path(obj.apiVersion, obj.kind, obj.metadata.namespace),
      obj,
    );
  }

  /** Replaces an object; with metadata.resourceVersion set, a 409 says someone wrote first. */
  async replace<T extends KubeResource>(obj: T): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new Error(`cannot replace ${obj.kind} without metadata.name`);
    return this.request<T>(
      "PUT",
      await this.path(obj.apiVersion, obj.kind, obj.metadata.namespace, name),
      obj,
    );
  }

  async get<T extends KubeResource = KubeObject>(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
  ): Promise<T> {
    return this.request<T>("GET", await this.path(apiVersion, kind, namespace, name));
  }

  /** Like get, but undefined when the object does not exist. */
  async find<T extends KubeResource = KubeObject>(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(apiVersion, kind, name, namespace);
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  async list<T extends KubeResource = KubeObject>(
    apiVersion: string,
    kind: string,
    opts: {
      namespace?: string;
      labelSelector?: string;
      fieldSelector?: string;
      metadataOnly?: boolean;
    } = {},
  ): Promise<KubeList<T>> {
    const r = await this.resource(apiVersion, kind);
    const ns =
      r.namespaced && opts.namespace ? `/namespaces/${encodeURIComponent(opts.namespace)}` : "";
    const params = new URLSearchParams();
    if (opts.labelSelector) params.set("labelSelector", opts.labelSelector);
    if (opts.fieldSelector) params.set("fieldSelector", opts.fieldSelector);
    const q = params.size > 0 ? `?${params.toString()}` : "";
    // An empty PartialObjectMetadataList says items: null.
    const list = await this.request<Omit<KubeList<T>, "items"> & { items: T[] | null }>(
      "GET",
      `${r.base}${ns}/${r.plural}${q}`,
      undefined,
      undefined,
      undefined,
      opts.metadataOnly ? metadataOnly.list : "application/json",
    );
    return { ...list, items: list.items ?? [] };
  }

  /**
   * Streams watch events of a collection until the server ends the watch, the
   * signal aborts, or no byte arrives for `idleTimeoutMs` (a dead connection).
   * Resolves when the stream ends; rejects on HTTP or connection errors.
   */
  async watch<T extends KubeResource = KubeObject>(
    apiVersion: string,
    kind: string,
    opts: {
      namespace?: string;
      labelSelector?: string;
      fieldSelector?: string;
      resourceVersion: string;
      timeoutSeconds: number;
      signal: AbortSignal;
      onEvent: (event: WatchEvent<T>) => void;
      metadataOnly?: boolean;
    },
  ): Promise<void> {
    const r = await this.resource(apiVersion, kind);
    const ns =
      r.namespaced && opts.namespace ? `/namespaces/${encodeURIComponent(opts.namespace)}` : "";
    const q = new URLSearchParams({
      watch: "1",
      allowWatchBookmarks: "true",
      resourceVersion: opts.resourceVersion,
      timeoutSeconds: String(opts.timeoutSeconds),
    });
    if (opts.labelSelector) q.set("labelSelector", opts.labelSelector);
    if (opts.fieldSelector) q.set("fieldSelector", opts.fieldSelector);
    const path = `${r.base}${ns}/${r.plural}?${q.toString()}`;
    const idleTimeoutMs = (opts.timeoutSeconds + 30) * 1000;
    const started = performance.now();
    let code = 0;
    try {
      await this.watchStream(
        path,
        opts,
        idleTimeoutMs,
        (c) => (code = c),
        opts.metadataOnly ? metadataOnly.watch : "application/json",
      );
    } finally {
      this.onRequest?.({ verb: "WATCH", code, ms: performance.now() - started, watch: true });
    }
  }

  private async watchStream<T extends KubeResource>(
    path: string,
    opts: { signal: AbortSignal; onEvent: (event: WatchEvent<T>) => void },
    idleTimeoutMs: number,
    setCode: (code: number) => void,
    accept: string,
  ): Promise<void> {
    const { watchAgent: agent, opts: auth } = await this.agent;
    await new Promise<void>((resolve, reject) => {
      const req = request(
        new URL(this.server + path),
        {
          method: "GET",
          agent,
          headers: { ...headersOf(auth), Accept: accept, "User-Agent": this.userAgent },
          ...(auth.auth ? { auth: auth.auth } : {}),
          timeout: idleTimeoutMs,
          signal: opts.signal,
        },
        (res) => {
          const code = res.statusCode ?? 0;
          setCode(code);
          if (code < 200 || code >= 300) {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              let status: { reason?: string; message?: string } = {};
              try {
                status = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof status;
              } catch {
                status = { message: Buffer.concat(chunks).toString("utf8") };
              }
              reject(
                new KubeApiError(
                  code,
                  status.reason ?? "",
                  status.message ?? "",
                  undefined,
                  `WATCH ${path}`,
                ),
              );
            });
            return;
          }
          let partial = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            const lines = (partial + chunk).split("\n");
            partial = lines.pop() ?? "";
            for (const line of lines) {
              if (!line.trim()) continue;
              try {
                opts.onEvent(JSON.parse(line) as WatchEvent<T>);
              } catch (err) {
                req.destroy(new Error(`WATCH ${path}: cannot handle event`, { cause: err }));
                return;
              }
            }
          });
          res.on("end", () => {
            resolve();
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () =>
        req.destroy(new Error(`WATCH ${this.server}${path}: no data for ${idleTimeoutMs}ms`)),
      );
      req.on("error", (cause) => {
        if (opts.signal.aborted) resolve();
        else reject(new Error(`WATCH ${this.server}${path} failed`, { cause }));
      });
      req.end();
    });
  }

  /** Deletes an object; true when it was there. */
  async delete(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
    opts: { propagationPolicy?: "Background" | "Foreground" | "Orphan"; uid?: string } = {},
  ): Promise<boolean> {
    const body = {
      apiVersion: "v1",
      kind: "DeleteOptions",
      ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
      ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
    };
    try {
      await this.request("DELETE", await this.path(apiVersion, kind, namespace, name), body);
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return false;
      throw err;
    }
  }
}
