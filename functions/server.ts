/**
 * Serves the function over gRPC with Crossplane's function protocol
 * (apiextensions.fn.proto.v1 FunctionRunnerService). TLS from Crossplane's
 * certificate directory convention (tls.crt, tls.key, ca.crt; clients must
 * present a certificate) unless explicitly insecure, for development.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Severity,
  Target,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import type { Logger } from "pino";
import { encodeResponse } from "./wire.ts";

export type RunFunction = (req: RunFunctionRequest) => RunFunctionResponse;

export interface ServeOptions {
  address: string;
  insecure: boolean;
  /** Directory with tls.crt, tls.key and ca.crt. */
  tlsServerCertsDir: string;
}

/** Runs the function; anything it throws becomes a fatal result, never a crashed call. */
export function runSafely(
  fn: RunFunction,
  req: RunFunctionRequest,
  log: Logger,
): RunFunctionResponse {
  try {
    return fn(req);
  } catch (err) {
    log.error({ err, tag: req.meta?.tag }, "function failed");
    return {
      meta: { tag: req.meta?.tag ?? "", ttl: undefined },
      desired: req.desired,
      results: [
        {
          severity: Severity.SEVERITY_FATAL,
          message: `function-stretch-kafka failed: ${err instanceof Error ? err.message : String(err)}`,
          target: Target.TARGET_COMPOSITE,
        },
      ],
      context: req.context,
      requirements: undefined,
      conditions: [],
    };
  }
}

export function credentials(opts: ServeOptions): grpc.ServerCredentials {
  if (opts.insecure) return grpc.ServerCredentials.createInsecure();
  const read = (f: string): Buffer => {
    try {
      return readFileSync(join(opts.tlsServerCertsDir, f));
    } catch (cause) {
      throw new Error(
        `cannot read ${f} from ${opts.tlsServerCertsDir}: give --tls-server-certs-dir, or --insecure for development`,
        { cause },
      );
    }
  };
  return grpc.ServerCredentials.createSsl(
    read("ca.crt"),
    [{ private_key: read("tls.key"), cert_chain: read("tls.crt") }],
    true,
  );
}

/** Starts the server; resolves with it and the port it listens on. */
export async function serve(
  fn: RunFunction,
  opts: ServeOptions,
  log: Logger,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  const service = {
    runFunction: { ...FunctionRunnerServiceService.runFunction, responseSerialize: encodeResponse },
  };
  server.addService(service, {
    runFunction: (
      call: grpc.ServerUnaryCall<RunFunctionRequest, RunFunctionResponse>,
      callback: grpc.sendUnaryData<RunFunctionResponse>,
    ) => {
      const started = performance.now();
      const rsp = runSafely(fn, call.request, log);
      log.debug({ tag: call.request.meta?.tag, ms: performance.now() - started }, "RunFunction");
      callback(null, rsp);
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.address, credentials(opts), (err, p) => {
      if (err) reject(new Error(`cannot listen on ${opts.address}`, { cause: err }));
      else resolve(p);
    });
  });
  log.info(
    { address: opts.address, port, insecure: opts.insecure },
    "function-stretch-kafka serving",
  );
  return { server, port };
}
