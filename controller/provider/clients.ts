/**
 * One client per remote cluster, cached and shared by every reconcile (a
 * client per reconcile cost provider-kubernetes 5x CPU). ProviderConfigs and
 * their credentials Secrets are watched, never fetched per reconcile; a
 * changed or rotated Secret makes a new client on the next use, without a
 * restart, and listeners are told so the managed resources using it run again.
 */
import type { Logger } from "pino";
import { groups, type ProviderConfig } from "../../apis/index.ts";
import { DynamicClient, type RequestInfo } from "../kube/dynamic.ts";
import { Informer } from "../kube/informer.ts";
import { credentialsFrom, CredentialsError, type SecretObject } from "./credentials.ts";
import { abandonAnnotation } from "./reconciler.ts";

export interface RemoteClient {
  client: DynamicClient;
  server: string;
  warning?: string;
  fingerprint: string;
}

export class RemoteClients {
  private readonly providerConfigs: Informer<ProviderConfig>;
  private readonly secrets = new Map<
    string,
    { informer: Informer<SecretObject>; started: Promise<void> }
  >();
  private readonly clients = new Map<string, RemoteClient>();
  private readonly listeners: ((providerConfig: string) => void)[] = [];

  constructor(
    private readonly central: DynamicClient,
    private readonly log: Logger,
    /** Reports each remote request, labelled with its ProviderConfig. */
    private readonly requestHook?: (providerConfig: string) => (info: RequestInfo) => void,
  ) {
    this.providerConfigs = new Informer<ProviderConfig>(
      central,
      { apiVersion: groups.remote, kind: "ProviderConfig" },
      log,
    );
    this.providerConfigs.on((event, pc, old) => {
      const name = pc.metadata.name ?? "";
      // Its managed resources care about its spec, its deletion, the abandon mark and whether the
      // cluster is reachable (Ready), not the rest of its status: the count of
      // users changes with every managed resource, and requeueing all of them
      // each time made one new claim wait behind thousands of reconciles.
      const ready = (x: ProviderConfig | undefined): string => {
        const c = x?.status?.conditions?.find((k) => k.type === "Ready");
        return `${c?.status ?? ""}/${c?.reason ?? ""}`;
      };
      const abandoned = (x: ProviderConfig | undefined): string | undefined =>
        x?.metadata.annotations?.[abandonAnnotation];
      const irrelevant =
        event === "update" &&
        old?.metadata.generation === pc.metadata.generation &&
        abandoned(old) === abandoned(pc) &&
        old?.metadata.deletionTimestamp === pc.metadata.deletionTimestamp &&
        ready(old) === ready(pc);
      if (irrelevant) return;
      if (event === "delete") this.drop(name);
      else this.watchSecretsIn(pc.spec.credentials.secretRef.namespace);
      this.notify(name);
    });
  }

  /** Calls fn with a ProviderConfig's name whenever it or its credentials change. */
  onChange(fn: (providerConfig: string) => void): void {
    this.listeners.push(fn);
  }

  async start(): Promise<void> {
    await this.providerConfigs.start();
    await Promise.all([...this.secrets.values()].map((s) => s.started));
  }

  async stop(): Promise<void> {
    await this.providerConfigs.stop();
    await Promise.all([...this.secrets.values()].map((s) => s.informer.stop()));
    for (const c of this.clients.values()) await c.client.close();
    this.clients.clear();
  }

  providerConfig(name: string): ProviderConfig | undefined {
    return this.providerConfigs.get(name);
  }

  /** Every ProviderConfig as last seen. */
  providerConfigList(): ProviderConfig[] {
    return this.providerConfigs.list();
  }

  /** The client for a ProviderConfig; throws CredentialsError with what to fix. */
  async get(name: string): Promise<RemoteClient> {
    const pc = this.providerConfigs.get(name);
    if (!pc) throw new CredentialsError(`ProviderConfig "${name}" does not exist`);
    const ref = pc.spec.credentials.secretRef;
    await this.watchSecretsIn(ref.namespace).started;
    const secret = this.secrets.get(ref.namespace)?.informer.get(`${ref.namespace}/${ref.name}`);
    if (!secret)
      throw new CredentialsError(
        `Secret ${ref.namespace}/${ref.name} named by ProviderConfig "${name}" does not exist`,
      );
    const creds = credentialsFrom(pc, secret);
    const cached = this.clients.get(name);
    if (cached?.fingerprint === creds.fingerprint) return cached;
    if (cached) {
      this.log.info({ providerConfig: name }, "credentials changed; using a new client");
      await cached.client.close();
    }
    const timeoutMs = (pc.spec.requestTimeoutSeconds ?? 10) * 1000;
    const fresh: RemoteClient = {
      client: new DynamicClient(creds.kubeConfig, {
        timeoutMs,
        userAgent: "stretch-kafka-provider",
      }),
      server: creds.server,
      fingerprint: creds.fingerprint,
      ...(creds.warning ? { warning: creds.warning } : {}),
    };
    this.clients.set(name, fresh);
    return fresh;
  }

  private watchSecretsIn(namespace: string): {
    informer: Informer<SecretObject>;
    started: Promise<void>;
  } {
    let s = this.secrets.get(namespace);
    if (!s) {
      const informer = new Informer<SecretObject>(
        this.central,
        { apiVersion: "v1", kind: "Secret", namespace },
        this.log,
      );
      informer.on((_event, secret) => {
        for (const pc of this.providerConfigs.list()) {
          const ref = pc.spec.credentials.secretRef;
          if (ref.namespace === namespace && ref.name === secret.metadata.name)
            this.notify(pc.metadata.name ?? "");
        }
      });
      s = { informer, started: informer.start() };
      this.secrets.set(namespace, s);
    }
    return s;
  }

  private drop(name: string): void {
    const c = this.clients.get(name);
    if (c) {
      this.clients.delete(name);
      void c.client.close();
    }
  }

  private notify(name: string): void {
    for (const l of this.listeners) l(name);
  }
}
