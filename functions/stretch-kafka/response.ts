/** The parts of a RunFunctionResponse that every step speaks in: results, conditions, a refusal. */
import {
  Severity,
  Status,
  Target,
  type Condition as FnCondition,
  type Requirements,
  type Result,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import type { FunctionCondition } from "./status.ts";
import type { Problem } from "./validate.ts";

/** Re-run soon while converging; rarely once settled (watches bring changes sooner). */
export const ttlConverging = 15;
export const ttlSettled = 600;

export function result(severity: Severity, message: string, reason?: string): Result {
  return {
    severity,
    message,
    ...(reason ? { reason } : {}),
    target: Target.TARGET_COMPOSITE_AND_CLAIM,
  };
}

export function problemResults(problems: Problem[]): Result[] {
  return problems.map((p) =>
    result(
      p.severity === "fatal" ? Severity.SEVERITY_FATAL : Severity.SEVERITY_WARNING,
      `${p.field}: ${p.message}`,
    ),
  );
}

/** A response that changes nothing: Crossplane stops on a fatal result and keeps what runs. */
export function refuse(
  req: RunFunctionRequest,
  results: Result[],
  requirements?: Requirements,
): RunFunctionResponse {
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: { seconds: ttlConverging, nanos: 0 } },
    desired: req.desired,
    results,
    context: req.context,
    requirements,
    conditions: [],
  };
}

export function toCondition(c: FunctionCondition): FnCondition {
  const status =
    c.status === "True"
      ? Status.STATUS_CONDITION_TRUE
      : c.status === "False"
        ? Status.STATUS_CONDITION_FALSE
        : Status.STATUS_CONDITION_UNKNOWN;
  return {
    type: c.type,
    status,
    reason: c.reason,
    message: c.message,
    target: Target.TARGET_COMPOSITE_AND_CLAIM,
  };
}
