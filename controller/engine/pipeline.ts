/**
 * Functions over gRPC, for the pipeline (functions/pipeline.ts): TLS with
 * Crossplane's client-certificate layout, or plain text.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  RunFunctionResponse as RunFunctionResponseCodec,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import type { FunctionRunner } from "../../functions/pipeline.ts";

export {
  inProcess,
  runPipeline,
  type FunctionRunner,
  type PipelineOutput,
  type PipelineStep,
} from "../../functions/pipeline.ts";

const callTimeoutMs = 30_000;

/**
 * A function over gRPC at `address`: TLS with the client certificate in
 * `tlsCertsDir` (tls.crt, tls.key, ca.crt, Crossplane's layout), or plain
 * text when none is given.
 */
export function overGrpc(address: string, tlsCertsDir?: string): FunctionRunner {
  const creds = tlsCertsDir
    ? grpc.credentials.createSsl(
        readFileSync(join(tlsCertsDir, "ca.crt")),
        readFileSync(join(tlsCertsDir, "tls.key")),
        readFileSync(join(tlsCertsDir, "tls.crt")),
      )
    : grpc.credentials.createInsecure();
  const Client = grpc.makeGenericClientConstructor(
    FunctionRunnerServiceService,
    "FunctionRunnerService",
  );
  const client = new Client(address, creds, {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
  });
  const method = client["runFunction"] as (
    req: RunFunctionRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, rsp: RunFunctionResponse) => void,
  ) => void;
  return (req) =>
    new Promise((resolve, reject) => {
      method.call(
        client,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + callTimeoutMs },
        (err, rsp) => {
          if (err) reject(new Error(`function at ${address}: ${err.message}`, { cause: err }));
          else resolve(RunFunctionResponseCodec.fromPartial(rsp));
        },
      );
    });
}
