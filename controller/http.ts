/** /healthz, /readyz and /metrics on one small HTTP server. */
import { createServer, type Server } from "node:http";
import type { Metrics } from "./metrics.ts";

export interface Probes {
  /** Whether the process can do its work now (caches synced, leader or standby). */
  ready(): boolean;
  /** Brings gauges up to date before a scrape. */
  beforeScrape?(): void;
}

export async function serveHttp(
  address: string,
  metrics: Metrics,
  probes: Probes,
): Promise<Server> {
  const [host, portText] = address.includes(":")
    ? [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)]
    : ["0.0.0.0", address];
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200).end("ok\n");
    } else if (path === "/readyz") {
      const ok = probes.ready();
      res.writeHead(ok ? 200 : 503).end(ok ? "ok\n" : "not ready\n");
    } else if (path === "/metrics") {
      probes.beforeScrape?.();
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(portText), host || "0.0.0.0", () => {
      resolve();
    });
  });
  return server;
}
