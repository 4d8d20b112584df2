/**
 * Serves the function over gRPC with Crossplane's function protocol
 * (apiextensions.fn.proto.v1 FunctionRunnerService). TLS from Crossplane's
 * certificate directory convention (tls.crt, tls.key, ca.crt; callers must
 * present a client certificate the CA issued, see tls.ts) unless explicitly
 * insecure, for development.
 */
import { createServer as createTlsServer } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import {
  FunctionRunnerServiceService,
  Ready,
  RunFunctionRequest,
  Severity,
  Target,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import type { Logger } from "pino";
import { ResponseCache } from "./response-cache.ts";
import { functionTls, type FunctionTls } from "./tls.ts";
import { encodeResponse } from "./wire.ts";

export type RunFunction = (req: RunFunctionRequest) => RunFunctionResponse;

export interface ServeOptions {
  address: string;
  insecure: boolean;
  /** Directory with tls.crt, tls.key and ca.crt. */
  tlsServerCertsDir: string;
  /** Bytes of encoded responses kept for repeated requests (0: none); 64 MiB unless given. */
  responseCacheBytes?: number;
  /**
   * Largest encoded response sent (0: no limit); larger ones become a fatal
   * result. Unless given, what Crossplane accepts: its gRPC client keeps
   * grpc-go's default 4 MiB limit on a received message.
   */
  maxResponseBytes?: number;
}

/** What Crossplane's function runner accepts from a function (grpc-go's default receive limit). */
export const crossplaneMaxResponseBytes = 4 * 1024 * 1024;

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

/** A response that changes nothing: Crossplane stops on a fatal result and keeps what runs. */
function fatal(req: RunFunctionRequest, message: string): RunFunctionResponse {
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: undefined },
    desired: req.desired,
    results: [{ severity: Severity.SEVERITY_FATAL, message, target: Target.TARGET_COMPOSITE }],
    context: req.context,
    requirements: undefined,
    conditions: [],
  };
}

/** What a debug log says of a call: the composite, its version, and its readiness as answered. */
function readinessOf(req: RunFunctionRequest, rsp: RunFunctionResponse): Record<string, unknown> {
  const xr = req.observed?.composite?.resource as
    { metadata?: { name?: string; generation?: number; resourceVersion?: string } } | undefined;
  const resources = Object.entries(rsp.desired?.resources ?? {});
  return {
    composite: xr?.metadata?.name,
    generation: xr?.metadata?.generation,
    resourceVersion: xr?.metadata?.resourceVersion,
    ready: rsp.desired?.composite?.ready,
    unready: resources.filter(([, r]) => r.ready !== Ready.READY_TRUE).map(([n]) => n),
  };
}

/**
 * Runs the function; anything it throws becomes a fatal result, never a
 * crashed call, and is marked `failed` so that it is not remembered.
 */
function runSafely(
  fn: RunFunction,
  req: RunFunctionRequest,
  log: Logger,
): { response: RunFunctionResponse; failed: boolean } {
  try {
    return { response: fn(req), failed: false };
  } catch (err) {
    log.error({ err, tag: req.meta?.tag }, "function failed");
    const message = `function-stretch-kafka failed: ${err instanceof Error ? err.message : String(err)}`;
    return { response: fatal(req, message), failed: true };
  }
}

/** A serving function: the port it listens on, and how to stop it. */
export interface Served {
  port: number;
  /** Stops taking calls and resolves when those in flight have been answered. */
  shutdown(): Promise<void>;
  /** Stops at once. */
  forceShutdown(): void;
}

/** Splits `host:port` (IPv6 hosts in brackets). */
function hostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`--address must be HOST:PORT, not ${address}`);
  return { host: m[1] ?? "", port: Number(m[2]) };
}

/**
 * Listens with TLS itself and hands each connection to the gRPC server:
 * grpc-js would let OpenSSL refuse Crossplane's client certificate. A
 * connection whose certificate does not pass is kept only to answer its calls
 * with Unauthenticated and the reason (a dropped connection tells the caller
 * nothing); `refusal` gives that reason by the call's peer.
 */
async function listenTls(
  server: grpc.Server,
  tls: FunctionTls,
  address: string,
  log: Logger,
): Promise<{ port: number; close: () => void; refusal: (peer: string) => string | undefined }> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const refused = new Map<string, string>();
  const listener = createTlsServer(tls.options, (socket) => {
    const reason = tls.refuse(socket.getPeerCertificate());
    if (reason) {
      // grpc-js names a call's peer by its socket's address and port.
      const peer = `${socket.remoteAddress ?? ""}:${String(socket.remotePort)}`;
      log.warn({ peer, reason }, "caller refused");
      refused.set(peer, reason);
      socket.once("close", () => refused.delete(peer));
    }
    injector.injectConnection(socket);
  });
  listener.on("tlsClientError", (err, socket) => {
    log.warn({ err, peer: socket.remoteAddress }, "TLS handshake failed");
  });
  const { host, port } = hostPort(address);
  await new Promise<void>((resolve, reject) => {
    listener.once("error", (err) => {
      reject(new Error(`cannot listen on ${address}`, { cause: err }));
    });
    listener.listen(port, host, resolve);
  });
  const bound = listener.address();
  return {
    port: typeof bound === "object" && bound ? bound.port : port,
    refusal: (peer) => refused.get(peer),
    close: () => {
      listener.close();
      injector.destroy();
    },
  };
}

/** Starts the server; resolves once it listens. */
export async function serve(fn: RunFunction, opts: ServeOptions, log: Logger): Promise<Served> {
  const tls: FunctionTls | undefined = opts.insecure
    ? undefined
    : functionTls(opts.tlsServerCertsDir);
  const server = new grpc.Server();
  let refusal = (_peer: string): string | undefined => undefined;
  const cache = new ResponseCache(opts.responseCacheBytes ?? 64 * 1024 * 1024);
  const maxResponse = opts.maxResponseBytes ?? crossplaneMaxResponseBytes;
  // Bytes in and out: the request's bytes are the cache key when it has no tag,
  // and a cached response goes back as it was encoded.
  const service = {
    runFunction: {
      ...FunctionRunnerServiceService.runFunction,
      requestDeserialize: (b: Buffer): Buffer => b,
      responseSerialize: (b: Buffer): Buffer => b,
    },
  };
  server.addService(service, {
    runFunction: (
      call: grpc.ServerUnaryCall<Buffer, Buffer>,
      callback: grpc.sendUnaryData<Buffer>,
    ) => {
      const started = performance.now();
      const refused = refusal(call.getPeer());
      if (refused) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: refused });
        return;
      }
      let req: RunFunctionRequest;
      try {
        req = RunFunctionRequest.decode(call.request);
      } catch (err) {
        callback({
          code: grpc.status.INVALID_ARGUMENT,
          details: `not a RunFunctionRequest: ${err instanceof Error ? err.message : String(err)}`,
        });
        return;
      }
      const key = ResponseCache.key(req, call.request);
      let rsp = cache.get(key);
      const cached = rsp !== undefined;
      // At debug level: which composite at which version, and what its readiness came to.
      let readiness: Record<string, unknown> | undefined;
      if (!rsp) {
        const { response, failed } = runSafely(fn, req, log);
        if (log.isLevelEnabled("debug")) readiness = readinessOf(req, response);
        rsp = encodeResponse(response);
        if (maxResponse > 0 && rsp.length > maxResponse) {
          // The caller would refuse the message and report only gRPC's size error.
          const message = `the desired state of this composite is ${mib(rsp.length)} MiB encoded, more than the ${mib(maxResponse)} MiB a function may answer Crossplane with (its gRPC client's message limit); nothing was changed. Run fewer nodes per StretchKafka, or run it with the standalone controller, whose in-process function has no such limit`;
          log.error({ tag: req.meta?.tag, bytes: rsp.length, limit: maxResponse }, message);
          rsp = encodeResponse(fatal(req, message));
        } else if (!failed) {
          cache.set(key, rsp);
        }
      }
      log.debug(
        { tag: req.meta?.tag, cached, ms: performance.now() - started, ...readiness },
        "RunFunction",
      );
      callback(null, rsp);
    },
  });
  let port: number;
  let closeListener = (): void => {};
  if (tls) {
    const listening = await listenTls(server, tls, opts.address, log);
    ({ port, close: closeListener } = listening);
    refusal = listening.refusal;
  } else {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(opts.address, grpc.ServerCredentials.createInsecure(), (err, p) => {
        if (err) reject(new Error(`cannot listen on ${opts.address}`, { cause: err }));
        else resolve(p);
      });
    });
  }
  log.info(
    { address: opts.address, port, insecure: opts.insecure },
    "function-stretch-kafka serving",
  );
  return {
    port,
    shutdown: () =>
      new Promise<void>((resolve) => {
        closeListener();
        server.tryShutdown(() => {
          resolve();
        });
      }),
    forceShutdown: () => {
      closeListener();
      server.forceShutdown();
    },
  };
}
