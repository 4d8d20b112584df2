/**
 * The function served with TLS accepts exactly what Crossplane presents: a
 * client certificate made the way Crossplane makes crossplane-tls-client
 * (the CA's own subject, no authority key id), dialled by fncall with
 * Crossplane's own TLS set-up (crossplane-runtime's LoadMTLSConfig). A caller
 * with no client certificate, or one another CA issued, is refused.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import {
  FunctionRunnerServiceService,
  RunFunctionRequest,
} from "@crossplane-org/function-sdk-typescript";
import { serve, type Served } from "../../functions/server.ts";
import { compose } from "../../functions/stretch-kafka/compose.ts";
import { asComposite, request } from "../../functions/render.ts";
import { fncallBinary } from "../../devbed/build.ts";
import {
  crossplaneLeaf,
  crossplaneRootCa,
  writeTlsDir,
  type Pem,
} from "../../devbed/crossplane-tls.ts";
import { run, RunError } from "../../devbed/run.ts";
import { exampleClaims, loadExample } from "../examples.ts";

let work: string;
let server: Served;
let address: string;
let ca: Pem;
let fncall: string;
let requestFile: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "stretch-kafka-fn-tls-"));
  fncall = (await fncallBinary()).path;
  ca = await crossplaneRootCa();
  // The server certificate as a package runtime issues it from crossplane-root-ca.
  const serverDir = writeTlsDir(
    join(work, "server"),
    await crossplaneLeaf(ca, "server", { dns: ["localhost"], ip: ["127.0.0.1"] }),
    ca.cert,
  );
  server = await serve(
    compose,
    { address: "127.0.0.1:0", insecure: false, tlsServerCertsDir: serverDir },
    pino({ level: "silent" }),
  );
  address = `127.0.0.1:${String(server.port)}`;
  const file = exampleClaims[0];
  if (!file) throw new Error("no example claims");
  const { claim, observed } = loadExample(file);
  requestFile = join(work, "request.bin");
  writeFileSync(
    requestFile,
    RunFunctionRequest.encode(request(asComposite(claim), observed)).finish(),
  );
});

after(() => {
  server.forceShutdown();
  rmSync(work, { recursive: true, force: true });
});

/** fncall's report, or what it printed when the call failed. */
async function callAs(clientDir: string): Promise<{ resources?: number; error?: string }> {
  try {
    const { stdout } = await run(fncall, [
      "-address",
      address,
      "-request",
      requestFile,
      "-n",
      "3",
      "-warm",
      "0s",
      "-tls-client-certs-dir",
      clientDir,
    ]);
    return JSON.parse(stdout) as { resources: number };
  } catch (err) {
    if (err instanceof RunError) return { error: err.stderr };
    throw err;
  }
}

test(
  "Crossplane's client certificate is accepted, and the function answers",
  { timeout: 60_000 },
  async () => {
    const client = writeTlsDir(
      join(work, "crossplane-tls-client"),
      await crossplaneLeaf(ca, "client", { dns: ["crossplane"] }),
      ca.cert,
    );
    const report = await callAs(client);
    assert.equal(report.error, undefined, report.error);
    assert.ok((report.resources ?? 0) > 0, "the answer holds the composed resources");
  },
);

test(
  "a client certificate from another CA is refused, saying why",
  { timeout: 60_000 },
  async () => {
    const other = await crossplaneRootCa();
    // The caller trusts the function's CA, but presents a certificate the function's CA never issued.
    const client = writeTlsDir(
      join(work, "stranger"),
      await crossplaneLeaf(other, "client", { dns: ["crossplane"] }),
      ca.cert,
    );
    const report = await callAs(client);
    assert.match(report.error ?? "", /Unauthenticated/);
    assert.match(report.error ?? "", /not issued by a CA in ca\.crt/);
  },
);

test(
  "a server certificate used as a client certificate is refused",
  { timeout: 60_000 },
  async () => {
    const client = writeTlsDir(
      join(work, "wrong-usage"),
      await crossplaneLeaf(ca, "server", { dns: ["crossplane"] }),
      ca.cert,
    );
    const report = await callAs(client);
    // Go's client refuses to send it or the function refuses it: either way no answer.
    assert.notEqual(report.error, undefined);
    assert.equal(report.resources, undefined);
  },
);

test("a caller with no client certificate is refused", { timeout: 30_000 }, async () => {
  const Client = grpc.makeGenericClientConstructor(
    FunctionRunnerServiceService,
    "FunctionRunnerService",
  );
  // Node's TLS, like the function's, cannot chain a certificate made the
  // Crossplane way; what is tested here is the server's side, so the caller
  // skips checking the server.
  const client = new Client(
    address,
    grpc.credentials.createSsl(Buffer.from(ca.cert), null, null, { rejectUnauthorized: false }),
  );
  try {
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        FunctionRunnerServiceService.runFunction.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (e) => {
          resolve(e);
        },
      );
    });
    assert.equal(err?.code, grpc.status.UNAUTHENTICATED, err?.details);
    assert.match(err.details, /no client certificate/);
  } finally {
    client.close();
  }
});
