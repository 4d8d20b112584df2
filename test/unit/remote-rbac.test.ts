/**
 * package/standalone/remote-rbac.yaml is what register-cluster creates remotely
 * (written from the same code by `npm run package`); the standalone
 * integration test checks it against a real remote cluster too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { providerRules } from "../../controller/register.ts";
import { remoteRbacFile, remoteRbacYaml } from "../../package/contents.ts";

test("the committed remote RBAC file matches register-cluster's objects (drift check)", () => {
  assert.equal(
    readFileSync(remoteRbacFile, "utf8"),
    remoteRbacYaml(),
    "run npm run package and commit package/standalone/remote-rbac.yaml",
  );
});

test("its Role grants exactly the provider's remote rules", () => {
  const role = parseAllDocuments(readFileSync(remoteRbacFile, "utf8"))
    .map((d) => d.toJS() as { kind: string; rules?: unknown })
    .find((d) => d.kind === "Role");
  assert.deepEqual(role?.rules, providerRules);
});
