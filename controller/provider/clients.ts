/**
 * One client per remote cluster, cached and shared by every reconcile (a
 * client per reconcile cost provider-kubernetes 5x CPU). ProviderConfigs and
 * their credentials Secrets are watched, never fetched per reconcile; a
 * changed or rotated Secret makes a new client on the next use, without a
 * restart, and listeners are told so the managed resources using it run again.
 *
 * Keyed by config key (config-key.ts): a legacy ProviderConfig by its name,
 * and with the v2 shape's kinds served, a ClusterProviderConfig and a
 * namespaced ProviderConfig too.
 */
import type { Logger } from "pino";
import type { ProviderConfig } from "../../apis/index.ts";
import { DynamicClient, type RequestInfo } from "../kube/dynamic.ts";
import { Informer } from "../kube/informer.ts";
import {
  configKey,
  configKind,
  describeConfig,
  parseConfigKey,
  secretRefusal,
  type ConfigRef,
} from "./config-key.ts";
import { credentialsFrom, CredentialsError, type SecretObject } from "./credentials.ts";
import { abandonAnnotation } from "./reconciler.ts";

export interface RemoteClient {
  client: DynamicClient;
  server: string;
  warning?: string;
  fingerprint: string;
}

export class RemoteClients {
  /** An informer per config kind served: the legacy ProviderConfig always. */
  private readonly configs = new Map<ConfigRef["kind"], Informer<ProviderConfig>>();
  private readonly secrets = new Map<
    string,
    { informer: Informer<SecretObject>; started: Promise<void> }
  >();
  private readonly clients = new Map<string, RemoteClient>();
  private readonly listeners: ((providerConfig: string) => void)[] = [];

  constructor(
    private readonly central: DynamicClient,
    private readonly log: Logger,
    /** Reports each remote request, labelled with its config key. */
    private readonly requestHook?: (providerConfig: string) => (info: RequestInfo) => void,
    /** Serve the v2 shape's ClusterProviderConfigs and namespaced ProviderConfigs (their CRDs installed). */
    opts: { namespaced?: boolean } = {},
  ) {
    const kinds: ConfigRef["kind"][] = [
      "LegacyProviderConfig",
      ...(opts.namespaced ? (["ClusterProviderConfig", "ProviderConfig"] as const) : []),
    ];
    for (const kind of kinds) {
      const informer = new Informer<ProviderConfig>(central, configKind(kind), log);
      informer.on((event, pc, old) => {
        this.changed(kind, event, pc, old);
      });
      this.configs.set(kind, informer);
    }
  }

  private changed(
    kind: ConfigRef["kind"],
    event: string,
    pc: ProviderConfig,
    old: ProviderConfig | undefined,
  ): void {
    const key = configKey(refOf(kind, pc));
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
    if (event === "delete") this.drop(key);
    else this.watchSecretsIn(pc.spec.credentials.secretRef.namespace);
    this.notify(key);
  }

  /** Calls fn with a config's key (a legacy ProviderConfig's name) whenever it or its credentials change. */
  onChange(fn: (providerConfig: string) => void): void {
    this.listeners.push(fn);
  }

  async start(): Promise<void> {
    await Promise.all([...this.configs.values()].map((i) => i.start()));
    await Promise.all([...this.secrets.values()].map((s) => s.started));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.configs.values()].map((i) => i.stop()));
    await Promise.all([...this.secrets.values()].map((s) => s.informer.stop()));
    for (const c of this.clients.values()) await c.client.close();
    this.clients.clear();
  }

  /** The config of a key (a legacy ProviderConfig's name, or a v2 kind's key), as last seen. */
  providerConfig(key: string): ProviderConfig | undefined {
    const ref = parseConfigKey(key);
    const name = ref.kind === "ProviderConfig" ? `${ref.namespace}/${ref.name}` : ref.name;
    return this.configs.get(ref.kind)?.get(name);
  }

  /** Every legacy ProviderConfig as last seen. */
  providerConfigList(): ProviderConfig[] {
    return this.configs.get("LegacyProviderConfig")?.list() ?? [];
  }

  /** The client for a config key; throws CredentialsError with what to fix. */
  async get(key: string): Promise<RemoteClient> {
    const config = parseConfigKey(key);
    const what = describeConfig(config);
    if (!this.configs.has(config.kind))
      throw new CredentialsError(
        `${what} is of the v2 shape, which this provider does not serve: start it with the v2 shape's kinds installed`,
      );
    const pc = this.providerConfig(key);
    if (!pc) throw new CredentialsError(`${what} does not exist`);
    const ref = pc.spec.credentials.secretRef;
    const refused = secretRefusal(config, ref);
    if (refused) throw new CredentialsError(refused);
    await this.watchSecretsIn(ref.namespace).started;
    const secret = this.secrets.get(ref.namespace)?.informer.get(`${ref.namespace}/${ref.name}`);
    if (!secret)
      throw new CredentialsError(
        `Secret ${ref.namespace}/${ref.name} named by ${what} does not exist`,
      );
    const creds = credentialsFrom(pc, secret);
    const cached = this.clients.get(key);
    if (cached?.fingerprint === creds.fingerprint) return cached;
    if (cached) {
      this.log.info({ providerConfig: key }, "credentials changed; using a new client");
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
    this.clients.set(key, fresh);
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
        for (const [kind, configs] of this.configs)
          for (const pc of configs.list()) {
            const ref = pc.spec.credentials.secretRef;
            if (ref.namespace === namespace && ref.name === secret.metadata.name)
              this.notify(configKey(refOf(kind, pc)));
          }
      });
      s = { informer, started: informer.start() };
      this.secrets.set(namespace, s);
    }
    return s;
  }

  private drop(key: string): void {
    const c = this.clients.get(key);
    if (c) {
      this.clients.delete(key);
      void c.client.close();
    }
  }

  private notify(key: string): void {
    for (const l of this.listeners) l(key);
  }
}

/** The reference of a config object of a kind. */
function refOf(kind: ConfigRef["kind"], pc: ProviderConfig): ConfigRef {
  const name = pc.metadata.name ?? "";
  return kind === "ProviderConfig"
    ? { kind, namespace: pc.metadata.namespace ?? "", name }
    : { kind, name };
}
