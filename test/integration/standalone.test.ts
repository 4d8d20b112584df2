/**
 * The standalone install on real API servers, with exactly the RBAC it ships.
 *
 * `npm run package`'s install manifests are applied server-side to the central
 * cluster; the remote clusters are registered by the `register-cluster`
 * command; the controller runs as its Deployment would run it (the compiled
 * JavaScript the image holds, the Deployment's arguments) with a token of the
 * Deployment's ServiceAccount and nothing else. A claim goes to Ready in two
 * remote clusters and is deleted again; before the controller starts, a claim
 * deleted before any composite existed and a certificate authority due for
 * rollover wait for it, so that its rarer requests happen too.
 *
 * The central API server audits every request of that ServiceAccount. None may
 * have been refused, and every verb the ClusterRole and the Role grant must
 * have been used: the RBAC is enough and no more.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import isEqual from "lodash/isEqual.js";
import { parse, stringify } from "yaml";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { describeError } from "../../controller/kube/errors.ts";
import { compositeNameFor, xrApiVersion } from "../../controller/engine/engine.ts";
import { playStrimzi } from "../../devbed/strimzi-player.ts";
import { ClusterEdge } from "../../devbed/kafka/edge.ts";
import type { StrimziPlayer } from "../../devbed/strimzi-player.ts";
import { CaSecretStore } from "../../controller/provider/ca-store.ts";
import { Pki } from "../../controller/provider/pki.ts";
import { kinds } from "../../controller/provider/kinds.ts";
import { objectSetKind } from "../../controller/provider/object-set.ts";
import { perObjectComposition, perObjectCompositionName } from "../../devbed/prepare-clusters.ts";
import { groups, labels } from "../../apis/index.ts";
import { remoteRbacFile } from "../../package/contents.ts";
import { standaloneInstall } from "../../devbed/packages.ts";
import {
  auditedRequests,
  ungranted,
  unusedGrants,
  type Grant,
  type PolicyRule,
} from "../../devbed/audit.ts";
import { freePort, startTestBed, type TestBed } from "../../devbed/clusters.ts";
import { buildController, runtime } from "../../package/build.ts";
import { eventually } from "../../devbed/eventually.ts";
import { readYamlDocuments } from "../../devbed/external-crds.ts";
import { installCrds, waitEstablished } from "../../devbed/install.ts";
import { serverCa, testLogger } from "../../devbed/provider-bed.ts";
import { run } from "../../devbed/run.ts";
import { teardown } from "../teardown.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const remoteNames = ["east", "west"];
const ns = "stretch-kafka-system";
const serviceAccount = "stretch-kafka-controller";
const username = `system:serviceaccount:${ns}:${serviceAccount}`;
const claimFinalizer = "finalizer.apiextensions.crossplane.io";
const fm = { fieldManager: "test" };

let bed: TestBed;
let work: string;
let central: DynamicClient;
let players: StrimziPlayer[] = [];
let edges: ClusterEdge[] = [];
let controller: ChildProcess | undefined;
const remotes = new Map<string, DynamicClient>();

interface Deployment extends KubeObject {
  spec: {
    template: {
      spec: {
        serviceAccountName: string;
        containers: {
          args: string[];
          ports: { name: string; containerPort: number }[];
          livenessProbe: { httpGet: { path: string; port: string } };
          readinessProbe: { httpGet: { path: string; port: string } };
        }[];
      };
    };
  };
}

interface Claim extends KubeObject {
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** Server-side apply of every document, strict about unknown fields: the CRDs first, Established, then the rest. */
async function applyInstall(files: { crds: string; controller: string }): Promise<KubeObject[]> {
  const applied: KubeObject[] = [];
  for (const file of [files.crds, files.controller]) {
    for (const doc of readYamlDocuments(file) as KubeObject[]) {
      try {
        applied.push(
          await central.apply(doc, { fieldManager: "kubectl", fieldValidation: "Strict" }),
        );
      } catch (err) {
        throw new Error(
          `cannot apply ${doc.kind} ${doc.metadata.name ?? ""} from ${file}: ${describeError(err)}`,
          {
            cause: err,
          },
        );
      }
    }
    if (file === files.crds) {
      await waitEstablished(
        central,
        applied.map((o) => o.metadata.name ?? ""),
        60,
      );
      central.forgetDiscovery();
    }
  }
  return applied;
}

/** A kubeconfig that is the ServiceAccount: a bound token, as the kubelet mounts into the pod. */
async function serviceAccountKubeconfig(): Promise<string> {
  const review = await central.request<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600 },
    },
  );
  const c = bed.cluster("central");
  const file = join(work, "controller.kubeconfig");
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "central",
          cluster: {
            server: c.server,
            "certificate-authority-data": Buffer.from(serverCa(c)).toString("base64"),
          },
        },
      ],
      users: [{ name: serviceAccount, user: { token: review.status.token } }],
      contexts: [{ name: serviceAccount, context: { cluster: "central", user: serviceAccount } }],
      "current-context": serviceAccount,
    }),
  );
  return file;
}

const ready = (c: Claim | undefined): boolean =>
  c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ?? false;

before(async () => {
  bed = await startTestBed({ names: ["central", ...remoteNames], auditServiceAccounts: true });
  work = mkdtempSync(join(tmpdir(), "stretch-kafka-standalone-"));
  central = new DynamicClient(bed.cluster("central").kubeConfig());
  for (const n of remoteNames) remotes.set(n, new DynamicClient(bed.cluster(n).kubeConfig()));
  await Promise.all(
    remoteNames.map((n) =>
      installCrds(bed.cluster(n).kubeConfig(), { crossplane: false, ours: false }),
    ),
  );
});

after(async () => {
  controller?.kill("SIGKILL");
  await teardown(
    () => Promise.all(players.map((p) => p.stop())),
    () => Promise.all(edges.map((e) => e.stop())),
    async () => {
      for (const r of remotes.values()) await r.close();
    },
    () => central.close(),
    () => bed.close(),
  );
  if (!process.env["STRETCH_KAFKA_KEEP_TESTBED"]) rmSync(work, { recursive: true, force: true });
});

test(
  "the standalone install runs a claim's whole life with exactly its RBAC: nothing refused, nothing granted unused",
  { timeout: 420_000 },
  async () => {
    const auditLog = bed.cluster("central").auditLog;
    assert.ok(
      auditLog,
      "this test reads the central API server's audit log: it needs the local test bed",
    );

    // The install, server-side, on a cluster with no Crossplane.
    const applied = await applyInstall(await standaloneInstall(work));
    const deployment = applied.find((o): o is Deployment => o.kind === "Deployment");
    assert.ok(deployment, "the install has the controller's Deployment");
    const pod = deployment.spec.template.spec;
    assert.equal(pod.serviceAccountName, serviceAccount);
    const [container] = pod.containers;
    assert.ok(container);
    const httpPort = container.ports.find((p) => p.name === "http")?.containerPort;
    assert.ok(
      container.args.includes(`--http-address=0.0.0.0:${String(httpPort)}`),
      "probes reach the served port",
    );
    const grants: Grant[] = applied.flatMap((o): Grant[] => {
      const rules = o["rules"] as PolicyRule[] | undefined;
      if (o.kind === "ClusterRole" && rules)
        return [{ source: `ClusterRole ${o.metadata.name ?? ""}`, rules }];
      if (o.kind === "Role" && rules)
        return [
          {
            source: `Role ${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`,
            namespace: o.metadata.namespace ?? "",
            rules,
          },
        ];
      return [];
    });
    assert.equal(grants.length, 2, "one ClusterRole and one Role");

    // The remote clusters, registered by the command, as an operator would.
    const cli = (await buildController(join(work, "app"))).entry;
    for (const n of remoteNames) {
      const c = bed.cluster(n);
      await run(process.execPath, [
        cli,
        "register-cluster",
        n,
        "--remote-kubeconfig",
        c.kubeconfigPath,
        "--kubeconfig",
        bed.cluster("central").kubeconfigPath,
      ]);
    }
    // What register-cluster made remotely is what package/standalone/remote-rbac.yaml says.
    const east = remotes.get("east");
    assert.ok(east);
    for (const want of readYamlDocuments(remoteRbacFile) as KubeObject[]) {
      const have: KubeObject = await east.get(
        want.apiVersion,
        want.kind,
        want.metadata.name ?? "",
        want.metadata.namespace,
      );
      for (const field of ["rules", "roleRef", "subjects", "type"])
        assert.deepEqual(have[field], want[field], `${want.kind} ${field}`);
    }

    // Work waiting for the controller: a claim deleted before it had a composite...
    await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }, fm);
    const sample = parse(
      readFileSync(join(root, "examples", "claim-2-clusters.yaml"), "utf8"),
    ) as Claim;
    await central.apply(
      { ...sample, metadata: { ...sample.metadata, name: "orphan", finalizers: [claimFinalizer] } },
      fm,
    );
    await central.delete(sample.apiVersion, sample.kind, "orphan", "team-a");
    // ...and a claim (NetworkPolicies, metrics and an ingress listener on, so that
    // every managed-resource kind is composed) whose certificate authority is due
    // for rollover, through a Composition asking for one managed resource per
    // object (the shape composites created before sets were shipped keep).
    const sampleSpec = sample["spec"] as Record<string, unknown> & {
      kafka: object;
      clusters: Record<string, unknown>[];
    };
    await central.apply(perObjectComposition(), fm);
    const claim = await central.apply(
      {
        ...sample,
        spec: {
          ...sampleSpec,
          kafka: {
            ...sampleSpec.kafka,
            metrics: { type: "jmxPrometheusExporter", prometheusRule: { enabled: true } },
            listeners: { external: { type: "ingress" } },
          },
          clusters: sampleSpec.clusters.map((c) => ({
            ...c,
            ingress: {
              bootstrapHost: `bootstrap.${String(c["name"])}.example.test`,
              hostTemplate: `broker-{nodeId}.${String(c["name"])}.example.test`,
            },
          })),
          networking: { provider: "mcs", networkPolicies: { enabled: true } },
          compositionRef: { name: perObjectCompositionName },
        },
      },
      fm,
    );
    // ...and a claim composed by the shipped Composition, a RemoteObjectSet per cluster.
    await central.apply(
      {
        ...sample,
        metadata: { ...sample.metadata, name: "ledger" },
        spec: sampleSpec,
      },
      fm,
    );
    const day = 24 * 3600 * 1000;
    const xrName = compositeNameFor(claim);
    const aged = new Pki(
      new CaSecretStore(central, ns),
      () => new Date(Date.now() - (5 * 365 - 36) * day),
    );
    await aged.bundle(xrName, "ClusterCA");

    const port = await freePort();
    const log = join(work, "controller.log");
    const out = createWriteStream(log);
    controller = spawn(
      process.execPath,
      [
        ...runtime.nodeFlags,
        cli,
        ...container.args,
        `--kubeconfig=${await serviceAccountKubeconfig()}`,
        `--http-address=127.0.0.1:${String(port)}`,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: process.env["PATH"] ?? "", ...runtime.env },
      },
    );
    controller.stdout?.pipe(out);
    controller.stderr?.pipe(out);
    const probe = (p: { httpGet: { path: string } }) => async (): Promise<true | undefined> =>
      (await fetch(`http://127.0.0.1:${String(port)}${p.httpGet.path}`)).status === 200
        ? true
        : undefined;
    await eventually("the liveness probe passes", probe(container.livenessProbe), 60, 250);
    await eventually("the readiness probe passes", probe(container.readinessProbe), 60, 250);
    players = playStrimzi(remotes, "kafka", testLogger());
    // The remote clusters' ingress controllers, which give the claim's Ingresses their address.
    edges = [...remotes].map(
      ([cluster, client], i) =>
        new ClusterEdge({ cluster, index: i + 1, client, namespace: "kafka", log: testLogger() }),
    );
    await Promise.all(edges.map((e) => e.start()));

    const failure = async (): Promise<string> => {
      const c = await central.find<Claim>(sample.apiVersion, sample.kind, "payments", "team-a");
      const tail = readFileSync(log, "utf8").split("\n").slice(-30).join("\n");
      return `claim conditions: ${JSON.stringify(c?.status?.conditions)}\ncontroller log:\n${tail}`;
    };
    await eventually(
      "the claim deleted before its composite existed is gone",
      async () =>
        (await central.find(sample.apiVersion, sample.kind, "orphan", "team-a")) ? undefined : true,
      60,
      250,
    ).catch(async (err: unknown) => assert.fail(`${describeError(err)}\n${await failure()}`));
    for (const name of ["payments", "ledger"])
      await eventually(
        `claim ${name} is Ready`,
        async () =>
          ready(await central.find<Claim>(sample.apiVersion, sample.kind, name, "team-a"))
            ? true
            : undefined,
        180,
        250,
      ).catch(async (err: unknown) => assert.fail(`${describeError(err)}\n${await failure()}`));
    assert.deepEqual(
      (
        await central.list(objectSetKind.apiVersion, objectSetKind.kind, {
          labelSelector: "crossplane.io/claim-name=ledger",
        })
      ).items
        .map((o) => o.metadata.labels?.[labels.stretchCluster])
        .sort(),
      ["east", "west"],
      "ledger is composed as one set per cluster (the shipped Composition)",
    );
    assert.ok(
      (
        await central.list("remote.stretchkafka.dev/v1alpha1", "RemoteStrimziPodSet", {
          labelSelector: "crossplane.io/claim-name=payments",
        })
      ).items.length > 0,
      "payments is composed per object",
    );
    type SecretObject = KubeObject & { data?: Record<string, string> };
    const claimSecret = await central.get<SecretObject>("v1", "Secret", "payments-kafka", "team-a");
    assert.ok(claimSecret.data?.["bootstrap.servers"], "the claim's connection Secret");

    // The connection Secrets are watched: deleted or edited by hand, each is
    // written again within seconds, well before the 60 s periodic pass.
    const xr = await central.get<
      KubeObject & { spec: { writeConnectionSecretToRef: { name: string; namespace: string } } }
    >(xrApiVersion, "XStretchKafka", xrName);
    const xrSecretRef = xr.spec.writeConnectionSecretToRef;
    const xrSecret = await central.get<SecretObject>(
      "v1",
      "Secret",
      xrSecretRef.name,
      xrSecretRef.namespace,
    );
    await central.delete("v1", "Secret", "payments-kafka", "team-a");
    await central.apply(
      {
        ...xrSecret,
        metadata: { name: xrSecretRef.name, namespace: xrSecretRef.namespace },
        data: {
          ...xrSecret.data,
          "bootstrap.servers": Buffer.from("hand-edited").toString("base64"),
        },
      },
      { fieldManager: "someone-by-hand", force: true },
    );
    for (const [what, name, namespace, want] of [
      ["the deleted claim connection Secret", "payments-kafka", "team-a", claimSecret.data],
      [
        "the hand-edited composite connection Secret",
        xrSecretRef.name,
        xrSecretRef.namespace,
        xrSecret.data,
      ],
    ] as const) {
      await eventually(
        `${what} is written again`,
        async () => {
          const now = await central.find<SecretObject>("v1", "Secret", name, namespace);
          return now && isEqual(now.data, want) ? true : undefined;
        },
        15,
        100,
      ).catch(async (err: unknown) => assert.fail(`${describeError(err)}\n${await failure()}`));
    }
    const ca = await central.get<KubeObject & { data: Record<string, string> }>(
      "v1",
      "Secret",
      `${xrName}-cluster-ca`,
      ns,
    );
    assert.ok(ca.data["previous.crt"], "the aged certificate authority was rolled over");

    // A topic and a user of the claim: there is no Kafka behind the played
    // pods, so both say they cannot ask it; the user's Secret is issued anyway.
    const access = (kind: string, spec: object): KubeObject => ({
      apiVersion: sample.apiVersion,
      kind,
      metadata: { name: "billing", namespace: "team-a" },
      spec: { kafkaRef: { name: "payments" }, ...spec },
    });
    await central.apply(access("KafkaTopic", { partitions: 3 }), fm);
    await central.apply(access("KafkaUser", { authentication: { type: "tls" } }), fm);
    for (const kind of ["KafkaTopic", "KafkaUser"])
      await eventually(
        `the ${kind} says Kafka cannot be asked`,
        async () => {
          const o = await central.find<Claim>(sample.apiVersion, kind, "billing", "team-a");
          return o?.status?.conditions?.some((c) =>
            c.message?.startsWith("Kafka could not be asked"),
          )
            ? true
            : undefined;
        },
        60,
        250,
      ).catch(async (err: unknown) => assert.fail(`${describeError(err)}\n${await failure()}`));
    assert.ok(await central.find("v1", "Secret", "billing", "team-a"), "the user's Secret");
    // A rebalance asked for with refresh: the annotation is taken at once, and
    // the proposal waits for Kafka (PendingProposal, retried), never NotReady for it.
    await central.apply(
      {
        ...access("KafkaRebalance", { mode: "full" }),
        metadata: {
          name: "billing",
          namespace: "team-a",
          annotations: { "stretchkafka.dev/rebalance": "refresh" },
        },
      },
      fm,
    );
    await eventually(
      "the KafkaRebalance took the refresh and waits for Kafka",
      async () => {
        const o = await central.find<
          Claim & {
            metadata: { annotations?: Record<string, string> };
            status?: { state?: string };
          }
        >(sample.apiVersion, "KafkaRebalance", "billing", "team-a");
        return o?.status?.state === "PendingProposal" &&
          o.metadata.annotations?.["stretchkafka.dev/rebalance"] === undefined &&
          o.status.conditions?.some((c) => c.message?.startsWith("Kafka could not be asked"))
          ? true
          : undefined;
      },
      60,
      250,
    ).catch(async (err: unknown) => assert.fail(`${describeError(err)}\n${await failure()}`));

    for (const name of ["payments", "ledger"])
      await central.delete(sample.apiVersion, sample.kind, name, "team-a");
    await eventually(
      "the claims, their composites, every managed resource and usage are gone",
      async () => {
        for (const name of ["payments", "ledger"])
          if (await central.find(sample.apiVersion, sample.kind, name, "team-a")) return undefined;
        if ((await central.list(xrApiVersion, "XStretchKafka")).items.length > 0) return undefined;
        for (const k of [...kinds, objectSetKind])
          if ((await central.list(k.apiVersion, k.kind)).items.length > 0) return undefined;
        return (await central.list(groups.remote, "ProviderConfigUsage")).items.length === 0
          ? true
          : undefined;
      },
      180,
      250,
    ).catch(async (err: unknown) => assert.fail(`${describeError(err)}\n${await failure()}`));

    // With the claim gone there is nothing to clean up in Kafka: all go at once.
    for (const kind of ["KafkaTopic", "KafkaUser", "KafkaRebalance"])
      await central.delete(sample.apiVersion, kind, "billing", "team-a");
    await eventually(
      "the topic, the user and the user's Secret are gone",
      async () =>
        (await central.find(sample.apiVersion, "KafkaTopic", "billing", "team-a")) ||
        (await central.find(sample.apiVersion, "KafkaUser", "billing", "team-a"))
          ? undefined
          : true,
      60,
      250,
    ).catch(async (err: unknown) => assert.fail(`${describeError(err)}\n${await failure()}`));

    const exited = new Promise<number | null>((resolve) => controller?.once("exit", resolve));
    controller.kill("SIGTERM");
    assert.equal(await exited, 0, await failure());
    controller = undefined;

    const requests = auditedRequests(auditLog, username);
    assert.ok(
      requests.length > 100,
      `only ${String(requests.length)} audited requests of ${username}`,
    );
    const refused = requests.filter((r) => r.decision !== "allow" || r.code === 403);
    assert.deepEqual(
      refused.map((r) => `${r.verb} ${r.uri} (${String(r.code)})`),
      [],
      "requests RBAC refused",
    );
    assert.deepEqual(
      ungranted(grants, requests).map((r) => `${r.verb} ${r.uri}`),
      [],
      "requests allowed by something other than the install's rules",
    );
    assert.deepEqual(unusedGrants(grants, requests), [], "granted but never used");
    // Secrets outside its own namespace are listed and watched only as the
    // engine's connection Secrets (and, by the code, as metadata only).
    assert.deepEqual(
      requests
        .filter(
          (r) =>
            r.resource === "secrets" &&
            (r.verb === "list" || r.verb === "watch") &&
            r.namespace !== ns &&
            !new URL(r.uri, "https://x").searchParams
              .get("labelSelector")
              ?.startsWith(labels.connectionSecret),
        )
        .map((r) => `${r.verb} ${r.uri}`),
      [],
      "Secrets listed or watched beyond the connection Secrets",
    );
    assert.doesNotMatch(readFileSync(log, "utf8"), /forbidden/i);
  },
);
