/**
 * The edge of one simulated Kubernetes cluster, as clients outside
 * Kubernetes see it: what a cloud load-balancer controller, kube-proxy and the
 * NGINX ingress controller (ingress-nginx started with
 * --enable-ssl-passthrough) give a real cluster, played with Node's `net`.
 *
 * - A LoadBalancer Service gets an address `127.72.<cluster>.<n>`, kept for
 *   the Service's life (a restarted edge takes back the address the Service's
 *   status shows), written to status.loadBalancer.ingress once it listens
 *   there on every TCP port of the Service. Services with any
 *   spec.loadBalancerClass are served: a real cloud controller leaves those to
 *   the implementation the class names; here there is only this one.
 * - A NodePort or LoadBalancer Service listens on one address standing for
 *   every node of the cluster, `127.70.<cluster>.1` (kube-proxy opens a node
 *   port on each node), at the node ports the API server assigned.
 * - Both forward each connection as kube-proxy does for externalTrafficPolicy
 *   Cluster: to a pod the EndpointSlice controller would list as ready for the
 *   Service (selector, pod address, Ready condition, not terminating; any pod
 *   with publishNotReadyAddresses), at the target port (a named port is looked
 *   up in each pod; a pod without it is no endpoint), from the node's address
 *   (kube-proxy masquerades). No endpoint, or the pod refuses: the client's
 *   connection is reset, as kube-proxy's REJECT rule or the pod's own refusal
 *   through DNAT has the client see it refused. Half-closes pass through.
 * - An Ingress of the served class (spec.ingressClassName, or the legacy
 *   kubernetes.io/ingress.class annotation) with
 *   `nginx.ingress.kubernetes.io/ssl-passthrough: "true"` is served at
 *   `127.71.<cluster>.1:443` as ingress-nginx's passthrough proxy serves it:
 *   it reads the first TLS record (however many TCP segments it takes, up to
 *   16 KiB), takes the ClientHello's server name, matches it exactly against
 *   the rules' hosts (a wildcard host never matches, as there), and sends the
 *   bytes read and the rest unchanged to the Service of the rule's root path
 *   ("/"; other paths are ignored with a warning, as there) at its cluster IP
 *   and Service port, which kube-proxy forwards as above (so a headless
 *   Service cannot be reached, and a port the Service lacks is refused). It
 *   closes both connections as soon as either direction ends (no half-close).
 *   The oldest Ingress wins a host claimed twice. Served Ingresses get
 *   `status.loadBalancer.ingress: [{ ip: <that address> }]`.
 *
 * What differs from the real thing:
 * - A ClientHello without a server name, or one no passthrough host matches,
 *   is closed; ingress-nginx hands it to NGINX's own TLS server, which answers
 *   with its default certificate and a 404. Ingresses without the passthrough
 *   annotation are not served at all (NGINX would terminate TLS), only warned
 *   about once. The ingress address listens only while it serves a host.
 * - Endpoints are taken round-robin per connection (kube-proxy's iptables
 *   mode picks at random; IPVS mode takes turns); terminating pods are never
 *   used, not even as a last resort; Services without a selector (whose
 *   EndpointSlices someone else writes) have no endpoints.
 * - externalTrafficPolicy and sessionAffinity are ignored (always Cluster,
 *   None); only TCP ports are served; no idle timeout (cloud load balancers
 *   have one).
 * - A Service deleted, or a port or type that no longer listens, ends the
 *   connections opened through it at once; real conntrack entries would
 *   carry them on while the pod lives. Pods going away end nothing, as for
 *   real: their connections fail on their own.
 * - Port 443 needs root or CAP_NET_BIND_SERVICE; `ingressPort` moves it.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import type { DynamicClient, KubeObject } from "../../controller/kube/dynamic.ts";
import { describeError } from "../../controller/kube/errors.ts";
import { Informer } from "../../controller/kube/informer.ts";

export interface ClusterEdgeOptions {
  cluster: string;
  /** 1-based index of the cluster, as StretchNetwork numbers them (use it for addresses). */
  index: number;
  client: DynamicClient;
  namespace: string;
  log: Logger;
  /** IngressClass name this cluster's ingress controller serves; default "nginx". */
  ingressClass?: string;
  /** Port of the ingress controller; default 443 (which needs root or CAP_NET_BIND_SERVICE). */
  ingressPort?: number;
}

interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
}

interface Service extends KubeObject {
  spec: {
    type?: string;
    clusterIP?: string;
    selector?: Record<string, string>;
    ports?: ServicePort[];
    publishNotReadyAddresses?: boolean;
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

interface Pod extends KubeObject {
  spec: {
    containers?: { ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

interface ServiceBackend {
  name: string;
  port?: { number?: number; name?: string };
}

interface Ingress extends KubeObject {
  spec: {
    ingressClassName?: string;
    rules?: {
      host?: string;
      http?: { paths?: { path?: string; backend: { service?: ServiceBackend } }[] };
    }[];
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

/** What a listener forwards to: a Service port (by port or node port), or the ingress controller. */
type Route =
  | { kind: "service"; service: string; by: "port" | "nodePort"; value: number }
  | { kind: "ingress" };

interface Listener {
  route: Route;
  digest: string;
  server: Server;
  bound: boolean;
  /** Settles once listening or failed. */
  opened: Promise<void>;
}

/** One forwarded connection, and what it goes through. */
interface Flow {
  client: Socket;
  upstream?: Socket;
  listener: string;
  /** `service/<name>`, `ingress/<name>`: the objects it ends with. */
  owners: string[];
}

interface Passthrough {
  ingress: string;
  backend: ServiceBackend;
}

const passthroughAnnotation = "nginx.ingress.kubernetes.io/ssl-passthrough";
const legacyClassAnnotation = "kubernetes.io/ingress.class";
/** A TLS record's header and largest body (RFC 8446 5.1): what ingress-nginx reads first. */
const recordHeader = 5;
const maxRecord = 16384;

export class ClusterEdge {
  /** The address of the cluster's (one) node, where NodePort services listen: 127.70.<index>.1 */
  readonly nodeAddress: string;
  /** The ingress controller's address (port `ingressPort`, 443 unless given): 127.71.<index>.1 */
  readonly ingressAddress: string;
  readonly ingressPort: number;
  private readonly lbPrefix: string;
  private readonly ingressClass: string;
  private services: Informer<Service> | undefined;
  private pods: Informer<Pod> | undefined;
  private ingresses: Informer<Ingress> | undefined;
  private readonly listeners = new Map<string, Listener>();
  private readonly flows = new Set<Flow>();
  /** Load-balancer addresses by Service name, with the uid of the Service given each. */
  private readonly addresses = new Map<string, { uid: string; ip: string }>();
  private passthrough = new Map<string, Passthrough>();
  private readonly turns = new Map<string, number>();
  private readonly warned = new Set<string>();
  /** Status last written per object: `<resourceVersion seen>|<status>`. */
  private readonly written = new Map<string, string>();
  private synced = false;
  private pending = false;
  private publishing: Promise<void> | undefined;
  private republish = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly o: ClusterEdgeOptions) {
    this.nodeAddress = `127.70.${o.index}.1`;
    this.ingressAddress = `127.71.${o.index}.1`;
    this.ingressPort = o.ingressPort ?? 443;
    this.lbPrefix = `127.72.${o.index}.`;
    this.ingressClass = o.ingressClass ?? "nginx";
  }

  /** Starts watching and serving; resolves once the first lists are in and the listeners open. */
  async start(): Promise<void> {
    if (this.services) return;
    const { client, namespace, log } = this.o;
    const services = new Informer<Service>(
      client,
      { apiVersion: "v1", kind: "Service", namespace },
      log,
    );
    const pods = new Informer<Pod>(client, { apiVersion: "v1", kind: "Pod", namespace }, log);
    const ingresses = new Informer<Ingress>(
      client,
      { apiVersion: "networking.k8s.io/v1", kind: "Ingress", namespace },
      log,
    );
    // Pods change only where a new connection goes, which each connection looks up.
    for (const i of [services, ingresses]) {
      i.on(() => {
        this.schedule();
      });
    }
    this.services = services;
    this.pods = pods;
    this.ingresses = ingresses;
    await Promise.all([services.start(), pods.start(), ingresses.start()]);
    if (this.services !== services) return; // stopped meanwhile
    this.synced = true;
    this.reconcile();
    await Promise.all([...this.listeners.values()].map((l) => l.opened));
    this.publishSoon();
  }

  /** Closes every listener and every forwarded connection, and stops watching (a cluster lost). */
  async stop(): Promise<void> {
    const informers = [this.services, this.pods, this.ingresses];
    this.services = this.pods = this.ingresses = undefined;
    this.synced = false;
    clearTimeout(this.retry);
    const closed = [...this.listeners].map(([key, l]) => this.close(key, l));
    for (const f of this.flows) cut(f);
    this.flows.clear();
    await Promise.all([...closed, ...informers.map((i) => i?.stop())]);
  }

  /** Host names of every Ingress rule it serves, each with ingressAddress: for a client's hosts file. */
  ingressHosts(): { name: string; ip: string }[] {
    return [...this.passthrough.keys()].sort().map((name) => ({ name, ip: this.ingressAddress }));
  }

  private schedule(): void {
    if (!this.synced || this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      if (!this.synced) return;
      this.reconcile();
      this.publishSoon();
    });
  }

  /** Brings listeners, addresses and passthrough hosts in line with the Services and Ingresses. */
  private reconcile(): void {
    const services = this.services?.list() ?? [];
    const desired = new Map<string, Route>();
    const live = new Set<string>();
    const lb = services.filter((s) => s.spec.type === "LoadBalancer");
    this.assignAddresses(lb);
    for (const svc of services) {
      const name = svc.metadata.name ?? "";
      live.add(`service/${name}`);
      const type = svc.spec.type ?? "ClusterIP";
      const tcp = (svc.spec.ports ?? []).filter((p) => (p.protocol ?? "TCP") === "TCP");
      const ip = this.addresses.get(name)?.ip;
      if (type === "LoadBalancer" && ip) {
        for (const p of tcp) {
          desired.set(`${ip}:${p.port}`, {
            kind: "service",
            service: name,
            by: "port",
            value: p.port,
          });
        }
      }
      if (type === "LoadBalancer" || type === "NodePort") {
        for (const p of tcp) {
          if (!p.nodePort) continue;
          desired.set(`${this.nodeAddress}:${p.nodePort}`, {
            kind: "service",
            service: name,
            by: "nodePort",
            value: p.nodePort,
          });
        }
      }
    }
    this.passthrough = this.passthroughHosts();
    for (const p of this.passthrough.values()) live.add(`ingress/${p.ingress}`);
    if (this.passthrough.size > 0) {
      desired.set(`${this.ingressAddress}:${this.ingressPort}`, { kind: "ingress" });
    }
    for (const [key, l] of this.listeners) {
      const route = desired.get(key);
      if (!route || JSON.stringify(route) !== l.digest) void this.close(key, l);
    }
    for (const [key, route] of desired) if (!this.listeners.has(key)) this.open(key, route);
    for (const f of this.flows) {
      if (this.listeners.has(f.listener) && f.owners.every((o) => live.has(o))) continue;
      cut(f);
      this.flows.delete(f);
    }
  }

  /**
   * Addresses of Services gone or no longer LoadBalancer go back to the pool;
   * a Service keeps its own, or takes back the one its status shows (a
   * restarted controller), before new ones are handed out, lowest first.
   */
  private assignAddresses(lb: Service[]): void {
    const current = new Map(lb.map((s) => [s.metadata.name ?? "", s.metadata.uid ?? ""]));
    for (const [name, a] of this.addresses) {
      if (current.get(name) !== a.uid) this.addresses.delete(name);
    }
    const used = new Set([...this.addresses.values()].map((a) => a.ip));
    const wanting: Service[] = [];
    for (const svc of lb) {
      const name = svc.metadata.name ?? "";
      if (this.addresses.has(name)) continue;
      const previous = (svc.status?.loadBalancer?.ingress ?? [])
        .map((i) => i.ip ?? "")
        .find((ip) => ip.startsWith(this.lbPrefix) && !used.has(ip));
      if (previous) {
        this.addresses.set(name, { uid: svc.metadata.uid ?? "", ip: previous });
        used.add(previous);
      } else {
        wanting.push(svc);
      }
    }
    let n = 1;
    for (const svc of wanting) {
      while (n <= 254 && used.has(`${this.lbPrefix}${n}`)) n++;
      const name = svc.metadata.name ?? "";
      if (n > 254) {
        this.warnOnce(
          `${svc.metadata.uid ?? ""}/no-address`,
          { service: name },
          "no load-balancer address left",
        );
        continue;
      }
      const ip = `${this.lbPrefix}${n}`;
      used.add(ip);
      this.addresses.set(name, { uid: svc.metadata.uid ?? "", ip });
      this.o.log.info(
        { cluster: this.o.cluster, service: name, ip },
        "load-balancer address assigned",
      );
    }
  }

  /** The passthrough servers by host, as ingress-nginx builds them from its Ingresses. */
  private passthroughHosts(): Map<string, Passthrough> {
    const byAge = (a: Ingress, b: Ingress): number =>
      (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
      (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "");
    const out = new Map<string, Passthrough>();
    for (const ing of (this.ingresses?.list() ?? []).sort(byAge)) {
      const name = ing.metadata.name ?? "";
      const uid = ing.metadata.uid ?? "";
      const cls = ing.spec.ingressClassName ?? ing.metadata.annotations?.[legacyClassAnnotation];
      if (cls !== this.ingressClass) continue;
      if (ing.metadata.annotations?.[passthroughAnnotation] !== "true") {
        this.warnOnce(
          `${uid}/terminating`,
          { ingress: name },
          `not served: only ${passthroughAnnotation}: "true" is played (NGINX would terminate TLS)`,
        );
        continue;
      }
      for (const rule of ing.spec.rules ?? []) {
        // A rule without a host belongs to NGINX's default server, never to a passthrough one.
        if (!rule.host || out.has(rule.host)) continue;
        const paths = rule.http?.paths ?? [];
        const root = paths.find((p) => (p.path ?? "/") === "/" && p.backend.service);
        for (const p of paths) {
          if (p === root) continue;
          this.warnOnce(
            `${uid}/${rule.host}${p.path ?? ""}`,
            { ingress: name },
            `Ignoring SSL Passthrough for location "${p.path ?? ""}" in server "${rule.host}"`,
          );
        }
        if (root?.backend.service)
          out.set(rule.host, { ingress: name, backend: root.backend.service });
      }
    }
    return out;
  }

  private open(key: string, route: Route): void {
    const at = key.lastIndexOf(":");
    const address = key.slice(0, at);
    const port = Number(key.slice(at + 1));
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      this.accept(socket, key, route);
    });
    const who =
      route.kind === "service"
        ? { service: route.service }
        : { ingressController: this.ingressClass };
    let settle = (): void => {};
    const l: Listener = {
      route,
      digest: JSON.stringify(route),
      server,
      bound: false,
      opened: new Promise<void>((resolve) => (settle = resolve)),
    };
    this.listeners.set(key, l);
    server.on("error", (err) => {
      this.o.log.error(
        { cluster: this.o.cluster, ...who, address: key, err: describeError(err) },
        "cannot listen",
      );
      settle();
    });
    server.listen(port, address, () => {
      l.bound = true;
      this.o.log.info({ cluster: this.o.cluster, ...who, address: key }, "listening");
      settle();
      this.publishSoon();
    });
  }

  private close(key: string, l: Listener): Promise<void> {
    this.listeners.delete(key);
    for (const f of this.flows) {
      if (f.listener !== key) continue;
      cut(f);
      this.flows.delete(f);
    }
    if (l.bound) this.o.log.info({ cluster: this.o.cluster, address: key }, "stopped listening");
    return new Promise((resolve) =>
      l.server.close(() => {
        resolve();
      }),
    );
  }

  private accept(client: Socket, listener: string, route: Route): void {
    const flow: Flow = { client, listener, owners: [] };
    this.flows.add(flow);
    client.on("close", () => {
      if (flow.upstream?.destroyed ?? true) this.flows.delete(flow);
    });
    client.on("error", (err) => {
      this.o.log.debug(
        { cluster: this.o.cluster, address: listener, err: describeError(err) },
        "client connection failed",
      );
    });
    if (route.kind === "ingress") {
      this.sniff(flow);
      return;
    }
    flow.owners.push(`service/${route.service}`);
    const svc = this.services?.get(`${this.o.namespace}/${route.service}`);
    const port = svc?.spec.ports?.find(
      (p) => p[route.by] === route.value && (p.protocol ?? "TCP") === "TCP",
    );
    this.forward(flow, svc, port, "kube-proxy", undefined);
  }

  /** ingress-nginx's passthrough proxy: the first TLS record decides where the connection goes. */
  private sniff(flow: Flow): void {
    const { client } = flow;
    let read = Buffer.alloc(0);
    const gone = (): void => {
      client.destroy();
    };
    const onData = (chunk: Buffer): void => {
      read = Buffer.concat([read, chunk]);
      if (read.length < recordHeader) return;
      const want = recordHeader + Math.min(read.readUInt16BE(3), maxRecord);
      if (read.length < want) return;
      client.pause();
      client.off("data", onData);
      client.off("end", gone);
      const host = serverName(read.subarray(0, want));
      const pass = host === undefined ? undefined : this.passthrough.get(host);
      if (!pass) {
        this.o.log.debug(
          { cluster: this.o.cluster, host },
          "no passthrough server for this name: closed (NGINX's default server would answer)",
        );
        client.destroy();
        return;
      }
      flow.owners.push(`ingress/${pass.ingress}`, `service/${pass.backend.name}`);
      const svc = this.services?.get(`${this.o.namespace}/${pass.backend.name}`);
      // ingress-nginx dials the Service's cluster IP at the Service port the backend names.
      const wanted = pass.backend.port?.name
        ? svc?.spec.ports?.find((p) => p.name === pass.backend.port?.name)?.port
        : pass.backend.port?.number;
      const hasClusterIp = !!svc?.spec.clusterIP && svc.spec.clusterIP !== "None";
      const port = hasClusterIp
        ? svc.spec.ports?.find((p) => p.port === wanted && (p.protocol ?? "TCP") === "TCP")
        : undefined;
      this.forward(flow, svc, port, "passthrough", read);
    };
    client.on("data", onData);
    client.on("end", gone);
  }

  /** kube-proxy's part: one ready endpoint of the Service port, or the connection refused. */
  private forward(
    flow: Flow,
    svc: Service | undefined,
    port: ServicePort | undefined,
    mode: "kube-proxy" | "passthrough",
    head: Buffer | undefined,
  ): void {
    const { client } = flow;
    // kube-proxy's REJECT is a refusal; ingress-nginx closes a connection it could not pass on.
    const refuse = (): void => {
      if (mode === "kube-proxy") client.resetAndDestroy();
      else client.destroy();
    };
    const ep = svc && port ? this.pick(svc, port) : undefined;
    if (!ep) {
      this.o.log.debug(
        { cluster: this.o.cluster, service: svc?.metadata.name, port: port?.port },
        "no ready endpoint: connection refused",
      );
      refuse();
      return;
    }
    const upstream = connect({
      host: ep.ip,
      port: ep.port,
      localAddress: mode === "kube-proxy" ? this.nodeAddress : this.ingressAddress,
      allowHalfOpen: true,
    });
    flow.upstream = upstream;
    // Through DNAT a reset reaches the other side as a reset; ingress-nginx just closes.
    const kill = (s: Socket): void => {
      if (s.destroyed) return;
      if (mode === "kube-proxy") s.resetAndDestroy();
      else s.destroy();
    };
    upstream.on("error", (err) => {
      this.o.log.debug(
        {
          cluster: this.o.cluster,
          pod: ep.pod,
          endpoint: `${ep.ip}:${ep.port}`,
          err: describeError(err),
        },
        "endpoint connection failed",
      );
      kill(client);
    });
    client.on("error", () => {
      kill(upstream);
    });
    const forget = (): void => {
      if (client.destroyed && upstream.destroyed) this.flows.delete(flow);
    };
    client.on("close", forget);
    upstream.on("close", forget);
    if (head) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
    if (mode === "passthrough") {
      // Its pipe copies both ways; once either copy ends, both connections are
      // closed, after what was read has been written.
      const closeBoth = (): void => {
        client.unpipe(upstream);
        upstream.unpipe(client);
        for (const s of [client, upstream]) {
          if (s.writableFinished) s.destroy();
          else s.once("finish", () => s.destroy()).end();
        }
      };
      client.once("end", closeBoth);
      upstream.once("end", closeBoth);
    }
  }

  /** The Service port's endpoints, as the EndpointSlice controller lists them, taken in turn. */
  private pick(svc: Service, port: ServicePort): Endpoint | undefined {
    const eps = this.endpoints(svc, port);
    if (eps.length === 0) return undefined;
    const key = `${svc.metadata.name ?? ""}:${port.port}`;
    const turn = this.turns.get(key) ?? 0;
    this.turns.set(key, turn + 1);
    return eps[turn % eps.length];
  }

  private endpoints(svc: Service, port: ServicePort): Endpoint[] {
    const selector = Object.entries(svc.spec.selector ?? {});
    if (selector.length === 0) return [];
    const out: Endpoint[] = [];
    const pods = (this.pods?.list() ?? []).sort((a, b) =>
      (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
    );
    for (const pod of pods) {
      const ip = pod.status?.podIP;
      if (!ip || pod.metadata.deletionTimestamp) continue;
      if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") continue;
      if (!selector.every(([k, v]) => pod.metadata.labels?.[k] === v)) continue;
      const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      if (!ready && svc.spec.publishNotReadyAddresses !== true) continue;
      const target = targetPort(pod, port);
      if (target !== undefined) out.push({ ip, port: target, pod: pod.metadata.name ?? "" });
    }
    return out;
  }

  private publishSoon(): void {
    this.republish = true;
    this.publishing ??= (async () => {
      while (this.republish && this.synced) {
        this.republish = false;
        await this.publish();
      }
    })().finally(() => {
      this.publishing = undefined;
      if (this.republish && this.synced) this.publishSoon();
    });
  }

  /** Writes the load-balancer status of Services and Ingresses where it differs. */
  private async publish(): Promise<void> {
    const { namespace, cluster } = this.o;
    const writes: {
      kind: "Service" | "Ingress";
      obj: Service | Ingress;
      want: LoadBalancerIngress[];
    }[] = [];
    for (const svc of this.services?.list() ?? []) {
      const name = svc.metadata.name ?? "";
      const ip = this.addresses.get(name)?.ip;
      const shown = svc.status?.loadBalancer?.ingress ?? [];
      if (svc.spec.type === "LoadBalancer" && ip) {
        // An address is published once the load balancer answers at it.
        const keys = (svc.spec.ports ?? [])
          .filter((p) => (p.protocol ?? "TCP") === "TCP")
          .map((p) => `${ip}:${p.port}`);
        if (keys.every((k) => this.listeners.get(k)?.bound))
          writes.push({ kind: "Service", obj: svc, want: [{ ip }] });
      } else if (
        svc.spec.type !== "LoadBalancer" &&
        shown.some((i) => i.ip?.startsWith(this.lbPrefix))
      ) {
        writes.push({ kind: "Service", obj: svc, want: [] });
      }
    }
    const served = new Set([...this.passthrough.values()].map((p) => p.ingress));
    const listening = this.listeners.get(`${this.ingressAddress}:${this.ingressPort}`)?.bound;
    for (const ing of this.ingresses?.list() ?? []) {
      const ours = [{ ip: this.ingressAddress }];
      if (served.has(ing.metadata.name ?? "")) {
        if (listening) writes.push({ kind: "Ingress", obj: ing, want: ours });
      } else if (JSON.stringify(addressesOf(ing)) === JSON.stringify(ours)) {
        writes.push({ kind: "Ingress", obj: ing, want: [] });
      }
    }
    for (const { kind, obj, want } of writes) {
      if (!this.synced) return;
      const name = obj.metadata.name ?? "";
      const key = `${kind}/${name}`;
      const digest = JSON.stringify(want);
      if (JSON.stringify(addressesOf(obj)) === digest) continue;
      const mark = `${obj.metadata.resourceVersion ?? ""}|${digest}`;
      if (this.written.get(key) === mark) continue;
      try {
        await this.o.client.apply(
          {
            apiVersion: obj.apiVersion,
            kind,
            metadata: { name, namespace },
            status: { loadBalancer: want.length > 0 ? { ingress: want } : {} },
          },
          {
            fieldManager:
              kind === "Service" ? "cloud-controller-manager" : "nginx-ingress-controller",
            subresource: "status",
            force: true,
          },
        );
        this.written.set(key, mark);
        this.o.log.info(
          { cluster, [kind.toLowerCase()]: name, ingress: want },
          "load-balancer status written",
        );
      } catch (err) {
        this.o.log.warn(
          { cluster, [kind.toLowerCase()]: name, err: describeError(err) },
          "cannot write load-balancer status; retrying",
        );
        clearTimeout(this.retry);
        this.retry = setTimeout(() => {
          this.publishSoon();
        }, 2000);
      }
    }
  }

  private warnOnce(key: string, fields: Record<string, string>, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.o.log.warn({ cluster: this.o.cluster, ...fields }, message);
  }
}

interface Endpoint {
  ip: string;
  port: number;
  pod: string;
}

/** A status's load-balancer addresses, without what the API server defaults (ipMode). */
function addressesOf(obj: Service | Ingress): LoadBalancerIngress[] {
  return (obj.status?.loadBalancer?.ingress ?? []).map((i) => ({
    ...(i.ip !== undefined ? { ip: i.ip } : {}),
    ...(i.hostname !== undefined ? { hostname: i.hostname } : {}),
  }));
}

/** Ends a forwarded connection, both sides. */
function cut(f: Flow): void {
  f.client.destroy();
  f.upstream?.destroy();
}

/** The port a Service port reaches in a pod: a number, a named container port, or its own. */
function targetPort(pod: Pod, port: ServicePort): number | undefined {
  const t = port.targetPort ?? port.port;
  if (typeof t === "number") return t;
  const protocol = port.protocol ?? "TCP";
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === t && (p.protocol ?? "TCP") === protocol) return p.containerPort;
    }
  }
  return undefined;
}

/**
 * The server_name of the TLS ClientHello in a record (RFC 8446 4.1.2, RFC
 * 6066 section 3), or undefined when the record is no ClientHello or names no host.
 */
function serverName(record: Buffer): string | undefined {
  // TLSPlaintext: handshake (22), version, length; Handshake: client_hello (1), uint24 length.
  if (record.length < 9 || record[0] !== 22 || record[5] !== 1) return undefined;
  const end = Math.min(record.length, 9 + record.readUIntBE(6, 3));
  let at = 9 + 2 + 32; // legacy_version, random
  // legacy_session_id, cipher_suites, legacy_compression_methods: length-prefixed.
  for (const size of [1, 2, 1]) {
    if (at + size > end) return undefined;
    at += size + record.readUIntBE(at, size);
  }
  if (at + 2 > end) return undefined;
  const extensionsEnd = Math.min(end, at + 2 + record.readUInt16BE(at));
  at += 2;
  while (at + 4 <= extensionsEnd) {
    const type = record.readUInt16BE(at);
    const length = record.readUInt16BE(at + 2);
    at += 4;
    if (type !== 0) {
      at += length;
      continue;
    }
    // server_name: a uint16-long list of (name_type, uint16 length, name).
    const listEnd = Math.min(extensionsEnd, at + length);
    for (let p = at + 2; p + 3 <= listEnd;) {
      const nameType = record[p];
      const nameLength = record.readUInt16BE(p + 1);
      p += 3;
      if (p + nameLength > listEnd) return undefined;
      if (nameType === 0) return record.toString("ascii", p, p + nameLength);
      p += nameLength;
    }
    return undefined;
  }
  return undefined;
}
