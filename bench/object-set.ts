/**
 * `npm run bench:objectset`: what ADR 0026 decided on, measured. The remote
 * objects the function composes for examples/claim-3-clusters.yaml, except
 * the Kafka CRs and podsets (which stay per-object), are applied twice to the
 * same three remote clusters (real API servers of the test bed), served by the
 * provider in process: once as one managed resource per object, once as one
 * RemoteObjectSet per cluster (each in a namespace of its own). For each it
 * counts the watch events of the central resources until every one is Ready,
 * and the tokens Crossplane's XR circuit breaker would take for them (a create
 * one, an update two; the bucket holds 100), and the time to Ready.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import type { DynamicClient, KubeObject } from "../controller/kube/dynamic.ts";
import { Informer } from "../controller/kube/informer.ts";
import { Provider } from "../controller/provider/provider.ts";
import { providerBed } from "../devbed/provider-bed.ts";
import { eventually } from "../devbed/eventually.ts";
import { asComposite, runPipeline } from "../functions/render.ts";
import { loadExample } from "../test/examples.ts";

const group = "remote.stretchkafka.dev/v1alpha1";
const fm = { fieldManager: "bench" };
const perObjectOnly = new Set(["RemoteKafka", "RemoteStrimziPodSet"]);

type Mr = KubeObject & {
  spec: {
    providerConfigRef: { name: string };
    deletionPolicy?: "Delete" | "Orphan";
    forProvider: { manifest: KubeObject } & Record<string, unknown>;
  };
  status?: { conditions?: { type: string; status: string }[] };
};

/** The example's composed objects that a set can carry, as managed resources. */
function composed(): Mr[] {
  const ex = loadExample("claim-3-clusters.yaml");
  const r = runPipeline(asComposite(ex.claim), ex.observed, ex.required);
  return Object.entries(r.desired?.resources ?? {}).flatMap(([name, d]) => {
    const mr = structuredClone(d.resource) as Mr;
    if (perObjectOnly.has(mr.kind)) return [];
    return [{ ...mr, metadata: { ...mr.metadata, name } }];
  });
}

/** The same objects in namespace `ns`. */
function inNamespace(mrs: Mr[], ns: string): Mr[] {
  return mrs.map((mr) => {
    const m = structuredClone(mr);
    m.spec.forProvider.manifest.metadata.namespace = ns;
    return m;
  });
}

/** One RemoteObjectSet per cluster, its entries named as the managed resources were. */
function asSets(mrs: Mr[]): KubeObject[] {
  const byCluster = new Map<string, Mr[]>();
  for (const mr of mrs) {
    const c = mr.spec.providerConfigRef.name;
    byCluster.set(c, [...(byCluster.get(c) ?? []), mr]);
  }
  return [...byCluster].map(([cluster, list]) => ({
    apiVersion: group,
    kind: "RemoteObjectSet",
    metadata: { name: `bench-${cluster}`, labels: list[0]?.metadata.labels ?? {} },
    spec: {
      providerConfigRef: { name: cluster },
      forProvider: {
        objects: list.map((mr) => ({
          name: mr.metadata.name ?? "",
          kind: mr.kind,
          ...(mr.spec.deletionPolicy ? { deletionPolicy: mr.spec.deletionPolicy } : {}),
          forProvider: mr.spec.forProvider,
        })),
      },
    },
  }));
}

interface Figures {
  resources: number;
  objects: number;
  watchEvents: number;
  breakerTokens: number;
  secondsToReady: number;
}

/** Applies `resources`, counts their watch events until all are Ready. */
async function measure(
  central: DynamicClient,
  resources: KubeObject[],
  objects: number,
): Promise<Figures> {
  const kinds = [...new Set(resources.map((r) => r.kind))];
  const names = new Set(resources.map((r) => `${r.kind}/${r.metadata.name ?? ""}`));
  let events = 0;
  let tokens = 0;
  const log = pino({ level: "warn" });
  const informers = kinds.map(
    (kind) => new Informer<Mr>(central, { apiVersion: group, kind }, log),
  );
  for (const i of informers)
    i.on((event, o) => {
      if (!names.has(`${o.kind}/${o.metadata.name ?? ""}`)) return;
      events++;
      tokens += event === "update" ? 2 : 1;
    });
  await Promise.all(informers.map((i) => i.start()));
  const started = performance.now();
  try {
    for (const r of resources) await central.apply(r, fm);
    await eventually(
      `${String(resources.length)} resources Ready`,
      () =>
        Promise.resolve(
          informers.every((i) =>
            i
              .list()
              .filter((o) => names.has(`${o.kind}/${o.metadata.name ?? ""}`))
              .every((o) =>
                o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
              ),
          ) &&
            informers.reduce(
              (n, i) =>
                n + i.list().filter((o) => names.has(`${o.kind}/${o.metadata.name ?? ""}`)).length,
              0,
            ) === resources.length
            ? true
            : undefined,
        ),
      300,
      100,
    );
    const secondsToReady = (performance.now() - started) / 1000;
    // What follows Ready (the remote watches' last events) counts too.
    await new Promise((r) => setTimeout(r, 3000));
    return {
      resources: resources.length,
      objects,
      watchEvents: events,
      breakerTokens: tokens,
      secondsToReady: Number(secondsToReady.toFixed(1)),
    };
  } finally {
    await Promise.all(informers.map((i) => i.stop()));
  }
}

async function main(): Promise<void> {
  const mrs = composed();
  const clusters = [...new Set(mrs.map((m) => m.spec.providerConfigRef.name))].sort();
  console.log(
    `the example's ${String(mrs.length)} objects a set can carry, in clusters ${clusters.join(", ")}`,
  );
  const pb = await providerBed({ remotes: clusters, strimzi: true });
  const provider = new Provider(
    pb.central,
    pino({ level: "warn" }),
    undefined,
    undefined,
    undefined,
    undefined,
    false,
  );
  try {
    for (const c of clusters)
      for (const ns of ["bench-a", "bench-b"])
        await pb
          .remote(c)
          .apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, fm);
    await provider.start();
    const perObject = await measure(pb.central, inNamespace(mrs, "bench-a"), mrs.length);
    console.log(`one managed resource per object: ${JSON.stringify(perObject)}`);
    const sets = await measure(pb.central, asSets(inNamespace(mrs, "bench-b")), mrs.length);
    console.log(`one RemoteObjectSet per cluster:  ${JSON.stringify(sets)}`);
    const result = { date: new Date().toISOString(), perObject, sets };
    mkdirSync("bench-results", { recursive: true });
    writeFileSync(join("bench-results", "object-set.json"), JSON.stringify(result, null, 2) + "\n");
    console.log(
      `breaker tokens ${String(perObject.breakerTokens)} -> ${String(sets.breakerTokens)} (bucket 100); ` +
        `Ready in ${String(perObject.secondsToReady)} s -> ${String(sets.secondsToReady)} s; written to bench-results/object-set.json`,
    );
  } finally {
    await provider.stop();
    await pb.close();
  }
}

await main();
