/** Credentials from a ProviderConfig's Secret: what is accepted and every refusal. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { stringify } from "yaml";
import type { ProviderConfig } from "../../apis/index.ts";
import {
  credentialsFrom,
  CredentialsError,
  type SecretObject,
} from "../../controller/provider/credentials.ts";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

function pc(
  spec: Partial<ProviderConfig["spec"]> & { format?: "Kubeconfig" | "Token" } = {},
): ProviderConfig {
  const { format, ...rest } = spec;
  return {
    apiVersion: "remote.stretchkafka.dev/v1alpha1",
    kind: "ProviderConfig",
    metadata: { name: "east", uid: "pc-uid", generation: 1 },
    spec: {
      credentials: {
        source: "Secret",
        format: format ?? "Kubeconfig",
        secretRef: { namespace: "stretch-kafka-system", name: "east" },
      },
      ...rest,
    },
  };
}

function secret(data: Record<string, string>, resourceVersion = "1"): SecretObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "east", namespace: "stretch-kafka-system", uid: "s-uid", resourceVersion },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "east", cluster: { server: "https://east.example:6443", ...cluster } }],
    users: [{ name: "sa", user }],
    contexts: [{ name: "east", context: { cluster: "east", user: "sa" } }],
    "current-context": "east",
  });
}

const ca = b64("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");

function refused(p: ProviderConfig, s: SecretObject, expected: RegExp): void {
  assert.throws(
    () => credentialsFrom(p, s),
    (err: unknown) => err instanceof CredentialsError && expected.test(err.message),
  );
}

test("a kubeconfig with a CA and a token is accepted, TLS verified", () => {
  const c = credentialsFrom(
    pc(),
    secret({ kubeconfig: kubeconfig({ "certificate-authority-data": ca }, { token: "t" }) }),
  );
  assert.equal(c.server, "https://east.example:6443");
  assert.equal(c.warning, undefined);
  assert.equal(c.kubeConfig.getCurrentCluster()?.skipTLSVerify, false);
});

test("server + CA + token (format Token) is accepted", () => {
  const c = credentialsFrom(
    pc({ format: "Token" }),
    secret({ server: "https://10.1.2.3:6443", "ca.crt": "pem", token: "abc\n" }),
  );
  assert.equal(c.server, "https://10.1.2.3:6443");
  assert.equal(c.kubeConfig.getCurrentUser()?.token, "abc");
  assert.equal(c.kubeConfig.getCurrentCluster()?.caData, b64("pem"));
});

test("missing keys are named, with the keys the Secret has", () => {
  refused(
    pc(),
    secret({ config: "x" }),
    /Secret stretch-kafka-system\/east has no key "kubeconfig" \(keys: config\)/,
  );
  refused(
    pc({ format: "Token" }),
    secret({ server: "https://x", token: "t" }),
    /has no key "ca.crt"/,
  );
});

test("a kubeconfig that is not one is refused", () => {
  refused(
    pc(),
    secret({ kubeconfig: "::: not yaml" }),
    /key "kubeconfig" is not a valid kubeconfig|no current context/,
  );
});

test("exec plugins and auth providers are refused: no commands from Secrets", () => {
  const exec = kubeconfig(
    { "certificate-authority-data": ca },
    { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "aws" } },
  );
  refused(pc(), secret({ kubeconfig: exec }), /does not run commands from Secrets/);
});

test("TLS verification is off only by the ProviderConfig's explicit choice, with a warning", () => {
  const skip = kubeconfig({ "insecure-skip-tls-verify": true }, { token: "t" });
  refused(
    pc(),
    secret({ kubeconfig: skip }),
    /turns TLS verification off.*spec\.insecureSkipTLSVerify on ProviderConfig east/,
  );
  const c = credentialsFrom(pc({ insecureSkipTLSVerify: true }), secret({ kubeconfig: skip }));
  assert.equal(
    c.warning,
    "TLS verification of https://east.example:6443 is off (spec.insecureSkipTLSVerify)",
  );
  const token = credentialsFrom(
    pc({ format: "Token", insecureSkipTLSVerify: true }),
    secret({ server: "https://x", token: "t" }),
  );
  assert.equal(token.kubeConfig.getCurrentCluster()?.skipTLSVerify, true);
});

test("the fingerprint changes exactly when the credentials do", () => {
  const k = kubeconfig({ "certificate-authority-data": ca }, { token: "t" });
  const a = credentialsFrom(pc(), secret({ kubeconfig: k }, "1")).fingerprint;
  assert.equal(credentialsFrom(pc(), secret({ kubeconfig: k }, "1")).fingerprint, a);
  assert.notEqual(credentialsFrom(pc(), secret({ kubeconfig: k }, "2")).fingerprint, a);
  const rotated = kubeconfig({ "certificate-authority-data": ca }, { token: "t2" });
  assert.notEqual(credentialsFrom(pc(), secret({ kubeconfig: rotated }, "1")).fingerprint, a);
});
