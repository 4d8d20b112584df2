/** The project's logger: pino JSON, secrets redacted by configuration. */
import { pino, type Logger } from "pino";

export const redactPaths = [
  "*.token",
  "*.password",
  "*.key",
  "*.privateKey",
  "*.data",
  "*.stringData",
  "*.kubeconfig",
  "*.headers.authorization",
  "*.headers.Authorization",
];

export function newLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? "stretch-kafka",
    level: opts.level ?? process.env["LOG_LEVEL"] ?? "info",
    redact: { paths: redactPaths, censor: "[redacted]" },
  });
}
