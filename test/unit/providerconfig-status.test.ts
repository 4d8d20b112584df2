/**
 * When the provider writes a ProviderConfig's status: a change of its users
 * count alone waits (ADR 0026: while a new claim requires its clusters'
 * ProviderConfigs, Crossplane's XR circuit breaker counts each write of one
 * against the claim's composite); anything else goes at once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Condition } from "../../apis/index.ts";
import { mergeConditions } from "../../controller/provider/conditions.ts";
import { sameButUsers } from "../../controller/provider/providerconfig.ts";

// As the API server gives a stored status back: a condition's keys sorted,
// not in the order the provider wrote them.
const stored = {
  conditions: [
    {
      lastTransitionTime: "2026-12-08T00:00:00Z",
      observedGeneration: 1,
      reason: "VerificationEnabled",
      status: "False" as const,
      type: "InsecureTLS",
    },
    {
      lastTransitionTime: "2026-12-08T00:00:00Z",
      message: "reachable, Kubernetes v1.35.0",
      observedGeneration: 1,
      reason: "Available",
      status: "True" as const,
      type: "Ready",
    },
  ],
  serverVersion: "v1.35.0",
  users: 3,
};
const updates: Omit<Condition, "lastTransitionTime">[] = [
  { type: "InsecureTLS", status: "False" as const, reason: "VerificationEnabled" },
  {
    type: "Ready",
    status: "True" as const,
    reason: "Available",
    message: "reachable, Kubernetes v1.35.0",
  },
];
const next = (u = updates): Parameters<typeof sameButUsers>[1] => ({
  conditions: mergeConditions(stored.conditions, u, "2026-12-08T01:00:00Z", 1),
  serverVersion: "v1.35.0",
});

test("the same status read back in the API server's key order is the same", () => {
  assert.equal(sameButUsers(stored, next()), true);
});

test("a condition, the server version or an error that changed is a change", () => {
  const unreachable = [
    ...updates.filter((u) => u.type !== "Ready"),
    { type: "Ready", status: "False" as const, reason: "Unreachable", message: "cannot reach" },
  ];
  assert.equal(sameButUsers(stored, next(unreachable)), false);
  assert.equal(sameButUsers(stored, { ...next(), serverVersion: "v1.35.1" }), false);
  assert.equal(sameButUsers(stored, { ...next(), lastError: "cannot reach" }), false);
});
