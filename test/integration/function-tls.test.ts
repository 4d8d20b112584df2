/**
 * The function served with TLS accepts exactly what Crossplane presents: a
 * client certificate made the way Crossplane makes crossplane-tls-client
 * (the CA's own subject, no authority key id), dialled by fncall with
 * Crossplane's own TLS set-up (crossplane-runtime's LoadMTLSConfig). A caller
 * with no client certificate, or one another CA issued, is refused.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import {
  FunctionRunner,
  FunctionRunnerServiceService,
  fromCompose,
  getServerCredentials,
  newGrpcServer,
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
let serverDir: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "stretch-kafka-fn-tls-"));
  fncall = (await fncallBinary()).path;
  ca = await crossplaneRootCa();
  // The server certificate as a package runtime issues it from crossplane-root-ca.
  serverDir = writeTlsDir(
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
async function callAs(
  clientDir: string,
  at = address,
): Promise<{ resources?: number; error?: string }> {
  try {
    const { stdout } = await run(fncall, [
      "-address",
      at,
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

/** A call with no client certificate to `at`; the error it got, or null when answered. */
async function callWithoutCertificate(at: string): Promise<grpc.ServiceError | null> {
  const Client = grpc.makeGenericClientConstructor(
    FunctionRunnerServiceService,
    "FunctionRunnerService",
  );
  // Node's TLS, like the function's, cannot chain a certificate made the
  // Crossplane way; what is tested here is the server's side, so the caller
  // skips checking the server.
  const client = new Client(
    at,
    grpc.credentials.createSsl(Buffer.from(ca.cert), null, null, { rejectUnauthorized: false }),
  );
  try {
    return await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        FunctionRunnerServiceService.runFunction.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(RunFunctionRequest.encode(RunFunctionRequest.fromPartial({})).finish()),
        (e) => {
          resolve(e);
        },
      );
    });
  } finally {
    client.close();
  }
}

test("a caller with no client certificate is refused", { timeout: 30_000 }, async () => {
  const err = await callWithoutCertificate(address);
  assert.equal(err?.code, grpc.status.UNAUTHENTICATED, err?.details);
  assert.match(err.details, /no client certificate/);
});

/**
 * Why functions/server.ts is not the SDK's server (docs/adr/0019): as
 * released, its TLS serves any caller; asked to require a client certificate,
 * it refuses the one Crossplane sends. Should a later SDK fix either, this
 * test says so, and the ADR is to be revisited.
 */
test(
  "function-sdk-typescript's server (ADR 0019): serves a caller with no certificate, or refuses Crossplane's",
  { timeout: 60_000 },
  async () => {
    const log = pino({ level: "silent" });
    const runner = new FunctionRunner(
      fromCompose((_req, rsp) => rsp),
      log,
    );
    const bind = async (creds: grpc.ServerCredentials): Promise<grpc.Server> => {
      const s = newGrpcServer(runner, log);
      const port = await new Promise<number>((resolve, reject) => {
        s.bindAsync("127.0.0.1:0", creds, (err, p) => {
          if (err) reject(err);
          else resolve(p);
        });
      });
      sdkAddress = `127.0.0.1:${String(port)}`;
      return s;
    };
    let sdkAddress = "";
    const released = await bind(
      getServerCredentials({ address: "", tlsServerCertsDir: serverDir }),
    );
    try {
      assert.equal(
        await callWithoutCertificate(sdkAddress),
        null,
        "answered without a certificate",
      );
    } finally {
      released.forceShutdown();
    }
    const read = (f: string): Buffer => readFileSync(join(serverDir, f));
    const strict = await bind(
      grpc.ServerCredentials.createSsl(
        read("ca.crt"),
        [{ private_key: read("tls.key"), cert_chain: read("tls.crt") }],
        true,
      ),
    );
    try {
      const crossplane = writeTlsDir(
        join(work, "crossplane-to-sdk"),
        await crossplaneLeaf(ca, "client", { dns: ["crossplane"] }),
        ca.cert,
      );
      const report = await callAs(crossplane, sdkAddress);
      // The handshake fails: the server resets the connection (DEPTH_ZERO_SELF_SIGNED_CERT).
      assert.match(report.error ?? "", /Unavailable/, "Crossplane's certificate was refused");
      assert.equal(report.resources, undefined);
    } finally {
      strict.forceShutdown();
    }
  },
);
