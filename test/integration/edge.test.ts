/**
 * The edge of a simulated cluster (devbed/kafka/edge.ts) against a real API
 * server: load balancers, node ports and a TLS passthrough Ingress reach a pod
 * the test plays (echo servers on the pod's address), only while it is ready,
 * and no longer once their objects are gone.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { connect as tlsConnect, createServer as tlsServer, type TLSSocket } from "node:tls";
import forge from "node-forge";
import { pino } from "pino";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { freePort, startTestBed, type TestBed } from "../../devbed/clusters.ts";
import { ClusterEdge } from "../../devbed/kafka/edge.ts";
import { teardown } from "../teardown.ts";
import { eventually } from "../../devbed/eventually.ts";

/** Far from the clusters (1, 2, 3…) of a Kafka bed that may run on this machine meanwhile. */
const index = 201;
const ns = "edge";
const podIp = `127.21.${index}.5`;
const host = "echo.example.test";
const log = pino({ level: "silent" });
const fm = { fieldManager: "test" };

let bed: TestBed;
let client: DynamicClient;
let edge: ClusterEdge;
let tcpPort: number;
let tlsPort: number;
let cert: { key: string; cert: string };
const pods: Server[] = [];
/** Source addresses the pod saw. */
const sources: string[] = [];

type Svc = KubeObject & {
  spec: { ports: { name: string; port: number; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
};

function selfSigned(name: string): { key: string; cert: string } {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const key = pair.privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(
    pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
  );
  c.serialNumber = "01";
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 3_600_000);
  const subject = [{ name: "commonName", value: name }];
  c.setSubject(subject);
  c.setIssuer(subject);
  c.setExtensions([
    { name: "basicConstraints", cA: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: name }] },
  ]);
  c.sign(forge.pki.privateKeyFromPem(key), forge.md.sha256.create());
  return { key, cert: forge.pki.certificateToPem(c) };
}

/** The kubelet's part: the pod's address and its Ready condition. */
async function setReady(ready: boolean): Promise<void> {
  await client.apply(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "echo-0", namespace: ns },
      status: {
        phase: "Running",
        podIP: podIp,
        podIPs: [{ ip: podIp }],
        conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      },
    },
    { fieldManager: "kubelet", subresource: "status", force: true },
  );
}

/** Sends text, half-closes, and returns all that came back. */
async function echo(address: string, port: number, text = "ping"): Promise<string> {
  const s = connect({ host: address, port });
  await once(s, "connect");
  s.end(text);
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

/** How a connection ended: an error code, "closed", or "data:…" once something comes back. */
function outcome(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    s.on("data", (c: Buffer) => {
      s.destroy();
      resolve(`data:${c.toString()}`);
    });
    s.on("error", (err: NodeJS.ErrnoException) => {
      resolve(err.code ?? err.message);
    });
    s.on("close", () => {
      resolve("closed");
    });
  });
}

/** Connects and half-closes at once: "closed" where a pod took it, else how it was refused. */
function probe(address: string, port: number): Promise<string> {
  const s = connect({ host: address, port });
  const how = outcome(s);
  s.end();
  return how;
}

async function refusedQuickly(address: string, port: number): Promise<void> {
  const started = Date.now();
  const s = connect({ host: address, port });
  s.write("anyone?");
  const how = await outcome(s);
  assert.ok(["ECONNREFUSED", "ECONNRESET", "closed"].includes(how), `${address}:${port}: ${how}`);
  assert.ok(Date.now() - started < 2000, `took ${Date.now() - started}ms`);
}

/** A socket that sends what it is given in 40-byte TCP segments, 5 ms apart. */
function trickle(socket: Socket): Duplex {
  socket.setNoDelay(true);
  const d = new Duplex({
    write(chunk: Buffer, _enc, done) {
      void (async () => {
        for (let i = 0; i < chunk.length; i += 40) {
          socket.write(chunk.subarray(i, i + 40));
          await sleep(5);
        }
        done();
      })();
    },
    read() {
      socket.resume();
    },
    final(done) {
      socket.end();
      done();
    },
  });
  socket.on("data", (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on("end", () => d.push(null));
  socket.on("error", (err) => d.destroy(err));
  return d;
}

/** A TLS session through the ingress controller: the certificate the far end showed and its echo. */
async function tlsEcho(
  servername: string,
  socket?: Duplex,
): Promise<{ subject: string; echoed: string }> {
  const s: TLSSocket = tlsConnect({
    host: edge.ingressAddress,
    port: edge.ingressPort,
    servername,
    ca: cert.cert,
    ...(socket ? { socket } : {}),
  });
  await once(s, "secureConnect");
  const subject = String(s.getPeerCertificate().subject.CN);
  // Write, read, then close: ingress-nginx's passthrough does not carry a half-close.
  s.write("over tls");
  const [chunk] = (await once(s, "data")) as [Buffer];
  s.destroy();
  return { subject, echoed: chunk.toString() };
}

/** How a TLS session through the ingress controller fails: "connected" if it does not. */
function tlsFails(servername: string): Promise<string> {
  const s = tlsConnect({
    host: edge.ingressAddress,
    port: edge.ingressPort,
    servername,
    ca: cert.cert,
  });
  return new Promise((resolve) => {
    s.on("secureConnect", () => {
      s.destroy();
      resolve("connected");
    });
    s.on("error", (err: Error) => {
      resolve(err.message);
    });
    s.on("close", () => {
      resolve("closed");
    });
  });
}

function canBind443(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    return (
      Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").trim()) <= 443
    );
  } catch {
    // Not Linux: assume privileged ports need privileges.
    return false;
  }
}

before(async () => {
  cert = selfSigned(host);
  tcpPort = await freePort();
  tlsPort = await freePort();
  const tcp = createServer((s) => {
    sources.push(s.remoteAddress ?? "");
    s.pipe(s);
  });
  const secure = tlsServer({ key: cert.key, cert: cert.cert }, (s) => s.pipe(s));
  for (const [server, port] of [
    [tcp, tcpPort],
    [secure, tlsPort],
  ] as const) {
    server.listen(port, podIp);
    await once(server, "listening");
    pods.push(server);
  }

  bed = await startTestBed({ names: ["edge"] });
  client = new DynamicClient(bed.cluster("edge").kubeConfig(), { timeoutMs: 5000 });
  await client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, fm);
  // The service-account controller makes the namespace's default ServiceAccount, which pods need.
  await eventually("default ServiceAccount", () =>
    client.find("v1", "ServiceAccount", "default", ns),
  );
  await client.apply(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "echo-0", namespace: ns, labels: { app: "echo" } },
      spec: {
        containers: [
          {
            name: "echo",
            image: "echo",
            ports: [
              { name: "tcp-echo", containerPort: tcpPort },
              { name: "tls-echo", containerPort: tlsPort },
            ],
          },
        ],
      },
    },
    fm,
  );
  await setReady(true);
  edge = new ClusterEdge({
    cluster: "edge",
    index,
    client,
    namespace: ns,
    log,
    ...(canBind443() ? {} : { ingressPort: await freePort() }),
  });
  await edge.start();
});

after(async () => {
  await teardown(
    () => edge.stop(),
    ...pods.map((p) => () => new Promise((resolve) => p.close(resolve))),
    () => client.close(),
    () => bed.close(),
  );
});

function service(name: string, type: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: {
      type,
      selector: { app: "echo" },
      ports: [
        { name: "tcp", port: 9000, targetPort: "tcp-echo" },
        { name: "tls", port: 9443, targetPort: "tls-echo" },
      ],
    },
  };
}

let lbIp = "";

test(
  "a LoadBalancer Service gets an address in its status and reaches the ready pod there",
  { timeout: 60_000 },
  async () => {
    await client.apply(service("echo", "LoadBalancer"), fm);
    lbIp = await eventually("load-balancer address in status", async () => {
      const svc = await client.get<Svc>("v1", "Service", "echo", ns);
      return svc.status?.loadBalancer?.ingress?.[0]?.ip;
    });
    assert.match(lbIp, new RegExp(`^127\\.72\\.${index}\\.\\d+$`));
    assert.equal(await echo(lbIp, 9000, "hello"), "hello");
    // kube-proxy masquerades: the pod sees the node connect.
    assert.equal(sources.at(-1), edge.nodeAddress);
  },
);

test("NodePort Services, and LoadBalancer ones, answer on the node at their node ports", async () => {
  await client.apply(service("echo-np", "NodePort"), fm);
  for (const name of ["echo-np", "echo"]) {
    const svc = await client.get<Svc>("v1", "Service", name, ns);
    const nodePort = svc.spec.ports.find((p) => p.name === "tcp")?.nodePort;
    assert.ok(nodePort, `${name} has a node port`);
    const answer = await eventually(`${name} on ${edge.nodeAddress}:${nodePort}`, () =>
      echo(edge.nodeAddress, nodePort, name),
    );
    assert.equal(answer, name);
  }
  const np = await client.get<Svc>("v1", "Service", "echo-np", ns);
  assert.equal(np.status?.loadBalancer?.ingress, undefined);
});

test("a pod not ready is no endpoint: connections are refused at once", async () => {
  await setReady(false);
  try {
    await eventually("connection refused", async () => {
      const s = connect({ host: lbIp, port: 9000 });
      s.write("x");
      return (await outcome(s)).startsWith("data:") ? undefined : true;
    });
    await refusedQuickly(lbIp, 9000);
  } finally {
    await setReady(true);
  }
  assert.equal(await eventually("ready again", () => echo(lbIp, 9000, "back")), "back");
});

test(
  "an ssl-passthrough Ingress is served by SNI with the pod's own certificate",
  { timeout: 60_000 },
  async () => {
    const ingress = (name: string, rulesHost: string, passthrough: boolean): KubeObject => ({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: {
        name,
        namespace: ns,
        ...(passthrough
          ? { annotations: { "nginx.ingress.kubernetes.io/ssl-passthrough": "true" } }
          : {}),
      },
      spec: {
        ingressClassName: "nginx",
        rules: [
          {
            host: rulesHost,
            http: {
              paths: [
                {
                  path: "/",
                  pathType: "Prefix",
                  backend: { service: { name: "echo", port: { name: "tls" } } },
                },
              ],
            },
          },
        ],
      },
    });
    await client.apply(ingress("echo", host, true), fm);
    await client.apply(ingress("plain", "plain.example.test", false), fm);
    await eventually("Ingress status", async () => {
      const ing = await client.get<Svc>("networking.k8s.io/v1", "Ingress", "echo", ns);
      return ing.status?.loadBalancer?.ingress?.[0]?.ip === edge.ingressAddress ? true : undefined;
    });
    assert.deepEqual(edge.ingressHosts(), [{ name: host, ip: edge.ingressAddress }]);

    assert.deepEqual(await tlsEcho(host), { subject: host, echoed: "over tls" });
    // A ClientHello arriving in many TCP segments is read whole.
    const raw = connect({ host: edge.ingressAddress, port: edge.ingressPort });
    await once(raw, "connect");
    assert.deepEqual(await tlsEcho(host, trickle(raw)), { subject: host, echoed: "over tls" });
    raw.destroy();

    assert.notEqual(await tlsFails("unknown.example.test"), "connected");
    assert.notEqual(await tlsFails("plain.example.test"), "connected");
    const plain = await client.get<Svc>("networking.k8s.io/v1", "Ingress", "plain", ns);
    assert.equal(plain.status?.loadBalancer?.ingress, undefined);
  },
);

test("a changed Service moves its listeners; one no longer LoadBalancer loses its address", async () => {
  const moved = service("echo", "LoadBalancer") as KubeObject & {
    spec: { ports: { port: number }[] };
  };
  const tcpPort = moved.spec.ports[0];
  assert.ok(tcpPort);
  tcpPort.port = 9001;
  await client.apply(moved, fm);
  assert.equal(
    await eventually("port 9001", () => echo(lbIp, 9001, "moved").catch(() => undefined)),
    "moved",
  );
  assert.equal(await probe(lbIp, 9000), "ECONNREFUSED");

  await client.apply(service("echo", "NodePort"), fm);
  await eventually("address withdrawn", async () => {
    const svc = await client.get<Svc>("v1", "Service", "echo", ns);
    return (svc.status?.loadBalancer?.ingress ?? []).length === 0 ? true : undefined;
  });
  assert.equal(await probe(lbIp, 9000), "ECONNREFUSED");
  assert.equal(await probe(lbIp, 9001), "ECONNREFUSED");

  await client.apply(service("echo", "LoadBalancer"), fm);
  const again = await eventually("address again", async () => {
    const svc = await client.get<Svc>("v1", "Service", "echo", ns);
    return svc.status?.loadBalancer?.ingress?.[0]?.ip;
  });
  assert.equal(again, lbIp);
  assert.equal(await echo(lbIp, 9000, "restored"), "restored");
});

test("stop cuts every connection and listener; start brings them back at the same address", async () => {
  const s = connect({ host: lbIp, port: 9000 });
  await once(s, "connect");
  const ended = outcome(s);
  await edge.stop();
  assert.ok(["closed", "ECONNRESET"].includes(await ended));
  await refusedQuickly(lbIp, 9000);
  await edge.start();
  assert.equal(await echo(lbIp, 9000, "again"), "again");
});

test("deleting a Service closes its listeners and the connections through them", async () => {
  const svc = await client.get<Svc>("v1", "Service", "echo", ns);
  const nodePort = svc.spec.ports.find((p) => p.name === "tcp")?.nodePort ?? 0;
  const s = connect({ host: lbIp, port: 9000 });
  await once(s, "connect");
  s.write("open");
  const [first] = (await once(s, "data")) as [Buffer];
  assert.equal(first.toString(), "open");
  const ended = outcome(s);
  await client.delete("v1", "Service", "echo", ns);
  assert.ok(["closed", "ECONNRESET"].includes(await ended));
  await eventually("listeners closed", async () => {
    const lb = await probe(lbIp, 9000);
    const node = await probe(edge.nodeAddress, nodePort);
    return lb === "ECONNREFUSED" && node === "ECONNREFUSED" ? true : undefined;
  });
  // The passthrough backend is gone too: the TLS session cannot start.
  assert.notEqual(await tlsFails(host), "connected");
});
